# escape=`
# syntax=docker/dockerfile:1

# PowerShell on Linux with the Windows-style escape character: backslashes are
# plain characters and the backtick continues lines.
FROM mcr.microsoft.com/powershell:lts-alpine-3.17
SHELL ["pwsh", "-NoLogo", "-NoProfile", "-Command"]
ENV PSModulePath=/usr/local/share/powershell/Modules `
    TOOLS_DIR=/opt/tools
RUN Set-PSRepository -Name PSGallery -InstallationPolicy Trusted; `
    Install-Module -Name Pester -Scope AllUsers -Force; `
    Write-Host "modules in $env:PSModulePath"
RUN New-Item -ItemType Directory -Path C:\temp\logs -Force | Out-Null
WORKDIR $TOOLS_DIR
COPY scripts/ ./scripts/
ENTRYPOINT ["pwsh", "-File", "./scripts/main.ps1"]
