# syntax=docker/dockerfile:1.4
FROM nginx:1.27-alpine

ARG SERVER_NAME=example.com
# An inline config, expanded with build args.
COPY <<EOF /etc/nginx/conf.d/default.conf
server {
    listen 80;
    server_name ${SERVER_NAME};
    location / {
        root /usr/share/nginx/html;
        try_files \$uri /index.html;
    }
}
EOF

# Several inline files into one directory.
COPY <<robots.txt <<humans.txt /usr/share/nginx/html/
User-agent: *
Disallow:
robots.txt
/* TEAM */
Built with strata
humans.txt

# An executable entrypoint, not expanded.
COPY --chmod=755 <<'EOF' /docker-entrypoint.d/40-print-env.sh
#!/bin/sh
echo "SERVER_NAME=$SERVER_NAME"
EOF

# Tab-stripped inline file.
COPY <<-EOF /usr/share/nginx/html/index.html
	<!doctype html>
	<title>it works</title>
	EOF
