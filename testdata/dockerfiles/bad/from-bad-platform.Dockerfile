FROM --platform=linux/amd64/v3/extra alpine
