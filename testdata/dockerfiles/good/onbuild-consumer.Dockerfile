# The child of an ONBUILD image: its triggers run right after FROM.
FROM example/python-onbuild:3.12
ENV FLASK_APP=app.py
EXPOSE 5000
CMD ["flask", "run", "--host=0.0.0.0"]
