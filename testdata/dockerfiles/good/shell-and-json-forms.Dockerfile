FROM debian:bookworm-slim
# Not valid JSON (single quotes): BuildKit runs it in shell form.
RUN [ 'echo', 'shell form after all' ]
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN curl -fsSL https://example.com/install.sh | bash
# Exec form is not passed to the shell.
RUN ["/usr/bin/env", "printf", "%s\n", "exec form"]
ENV GREETING hello world
ENV A=1 B="two words" C=three\ words
MAINTAINER Jane Doe <jane@example.com>
# A JSON array with an escaped quote and unicode.
ENTRYPOINT ["/bin/echo", "say \"hi\"", "caf\u00e9"]
# Shell-form CMD goes through the current SHELL.
CMD echo $GREETING
