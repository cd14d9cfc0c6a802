FROM registry.access.redhat.com/ubi9/ubi-minimal:9.4
ENV APP_ROOT=/opt/app-root \
    HOME=/opt/app-root/src
# Relative WORKDIRs resolve against the previous one; variables expand.
WORKDIR /opt
WORKDIR app-root
WORKDIR ${HOME}/../etc
RUN printf 'umask 0002\n' > profile
WORKDIR src/
USER 1001:0
RUN id && pwd
# OpenShift-style arbitrary uid support.
USER root
RUN chgrp -R 0 ${APP_ROOT} && chmod -R g=u ${APP_ROOT}
USER 1001
WORKDIR $HOME
CMD ["/bin/bash"]
