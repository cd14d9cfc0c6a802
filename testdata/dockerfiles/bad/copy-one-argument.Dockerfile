FROM eclipse-temurin:21-jre
# The destination is missing.
COPY target/app.jar
ENTRYPOINT ["java", "-jar", "/app.jar"]
