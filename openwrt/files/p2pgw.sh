#!/bin/sh
# /usr/bin/p2pgw: the p2pgw command line (p2pgw --help), run by the Node.js runtime.
exec /usr/bin/node /usr/lib/p2pgw/dist/cli/main.js "$@"
