# syntax=docker/dockerfile:1

# This file was emptied by mistake.
# FROM alpine
