"""A small JSON API: greets by name and counts the greetings (in memory)."""

import platform

from flask import Flask, jsonify

app = Flask(__name__)
greeted: dict[str, int] = {}


@app.get("/")
def index():
    return jsonify(service="python-app", python=platform.python_version())


@app.get("/hello/<name>")
def hello(name: str):
    greeted[name] = greeted.get(name, 0) + 1
    return jsonify(message=f"hello, {name}", times=greeted[name])


@app.get("/healthz")
def healthz():
    return "ok\n"
