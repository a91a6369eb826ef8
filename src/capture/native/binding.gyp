{
  "targets": [
    {
      "target_name": "p2pgw_nfq",
      "sources": ["nfq.c", "nl.c", "tx.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11", "-pthread"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
