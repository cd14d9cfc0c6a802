# syntax=docker/dockerfile:1.4
FROM debian:bookworm-slim

# A whole script as the command.
RUN <<EOF
set -eux
apt-get update
apt-get install -y --no-install-recommends ca-certificates curl
rm -rf /var/lib/apt/lists/*
EOF

# A heredoc fed to an interpreter, with a quoted delimiter: no expansion.
ARG GREETING=hello
RUN python3 <<'PY'
import os
print(os.environ.get("GREETING", "$GREETING"))
PY

# Two heredocs on one line.
RUN <<FILE1 cat > /etc/motd && <<FILE2 cat > /etc/issue
Welcome to ${GREETING} land
FILE1
Debian GNU/Linux \n \l
FILE2

# <<- strips leading tabs from the body and the delimiter line.
RUN <<-EOT sh
	echo "indented with tabs"
	echo "still indented"
	EOT

# A heredoc that starts with a shebang.
RUN <<EOF
#!/usr/bin/env bash
set -euo pipefail
printf '%s\n' "generated at build time" > /build-info
EOF
CMD ["bash"]
