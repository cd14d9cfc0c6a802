# syntax=docker/dockerfile:1
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:8.0 AS build
ARG TARGETARCH
WORKDIR /source
COPY --link *.csproj .
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet restore -a $TARGETARCH
COPY --link . .
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet publish -a $TARGETARCH --no-restore -o /app

FROM mcr.microsoft.com/dotnet/aspnet:8.0-jammy-chiseled
EXPOSE 8080
WORKDIR /app
COPY --link --from=build /app .
# APP_UID comes from the base image's environment.
USER $APP_UID
ENTRYPOINT ["./aspnetapp"]
