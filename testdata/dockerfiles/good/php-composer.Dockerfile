FROM php:8.3-fpm-bookworm AS app
# Composer binary straight out of its official image.
COPY --from=composer:2.7 /usr/bin/composer /usr/local/bin/composer
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt,sharing=locked \
    apt-get update \
 && apt-get install -y --no-install-recommends libicu-dev libzip-dev unzip \
 && docker-php-ext-install -j"$(nproc)" intl opcache pdo_mysql zip
ENV COMPOSER_ALLOW_SUPERUSER=1 \
    COMPOSER_HOME=/tmp/composer
WORKDIR /var/www/html
COPY composer.json composer.lock symfony.lock ./
RUN --mount=type=cache,target=/tmp/composer/cache \
    composer install --no-dev --no-scripts --prefer-dist --no-progress --no-interaction
COPY --chown=www-data:www-data . .
RUN composer dump-autoload --classmap-authoritative --no-dev \
 && composer run-script --no-dev post-install-cmd
USER www-data
STOPSIGNAL SIGQUIT
EXPOSE 9000
CMD ["php-fpm"]
