//! Authentication against real registries: htpasswd basic auth, bearer tokens from a
//! token server, docker config.json (auths, identity tokens, credential helpers), and
//! redaction of secrets.

use std::os::unix::fs::PermissionsExt as _;

use base64::Engine as _;
use registry_client::{CredentialSource, Credentials, DockerConfig, ErrorKind};

use super::support::{
    BaseImage, Fault, FaultProxy, FaultRule, ImageFormat, Registry, RegistryAuth, TokenServer,
    TokenServerOptions, sha256,
};
use super::{client_with, reference};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-Pa55word";

fn htpasswd_registry() -> Registry {
    let registry = Registry::start_with(RegistryAuth::Htpasswd {
        user: USER.into(),
        password: PASSWORD.into(),
    });
    BaseImage::busybox().push(
        &registry.host(),
        "busybox:latest",
        Some((USER, PASSWORD)),
        ImageFormat::Oci,
    );
    registry
}

fn static_creds(host: &str, password: &str) -> CredentialSource {
    CredentialSource::Static(vec![(host.to_owned(), Credentials::basic(USER, password))])
}

async fn pull_all(
    client: &registry_client::Client,
    r: &registry_client::Reference,
) -> registry_client::Result<()> {
    let resolved = client.resolve(r).await?;
    for layer in &resolved.layers {
        let mut buf = Vec::new();
        client.fetch_blob(r, layer, &mut buf).await?;
        assert_eq!(sha256(&buf), layer.digest().to_string());
    }
    Ok(())
}

#[tokio::test]
async fn htpasswd_basic_auth() {
    let registry = htpasswd_registry();
    let r = reference(&registry.host(), "busybox:latest");

    pull_all(&client_with(static_creds(&registry.host(), PASSWORD)), &r)
        .await
        .unwrap();

    let err = pull_all(&client_with(CredentialSource::Anonymous), &r)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("strata login"), "{err}");

    let wrong = "wrong-Pa55word";
    let client = client_with(static_creds(&registry.host(), wrong));
    let err = pull_all(&client, &r).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    for shown in [err.to_string(), format!("{err:?}"), format!("{client:?}")] {
        assert!(!shown.contains(wrong), "secret leaked: {shown}");
    }
}

#[tokio::test]
async fn bearer_token_flow() {
    let tokens = TokenServer::start(TokenServerOptions {
        users: vec![(USER.into(), PASSWORD.into())],
        ..Default::default()
    });
    let registry = Registry::start_with(tokens.registry_auth());
    BaseImage::busybox().push(
        &registry.host(),
        "team/busybox:latest",
        Some((USER, PASSWORD)),
        ImageFormat::Oci,
    );
    let r = reference(&registry.host(), "team/busybox:latest");

    // Anonymous pull gets a pull-only token, fetched once and reused for every request.
    let before = tokens.tokens_issued();
    let anonymous = client_with(CredentialSource::Anonymous);
    pull_all(&anonymous, &r).await.unwrap();
    pull_all(&anonymous, &r).await.unwrap();
    assert_eq!(
        tokens.tokens_issued() - before,
        1,
        "one token for one scope"
    );

    // ... which cannot push.
    let err = anonymous.check_push_access(&r).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Unauthorized | ErrorKind::Denied),
        "{err}"
    );

    // With credentials, the token grants push too.
    let alice = client_with(static_creds(&registry.host(), PASSWORD));
    alice.check_push_access(&r).await.unwrap();
    pull_all(&alice, &r).await.unwrap();
    let requests = tokens.requests.lock().unwrap().clone();
    assert!(
        requests.iter().any(|t| t.user.as_deref() == Some(USER)
            && t.scopes.iter().any(|s| s.ends_with(":pull,push"))),
        "{requests:#?}"
    );

    // Wrong credentials fail at the token server, without leaking the password.
    let wrong = "not-the-Pa55word";
    let err = pull_all(&client_with(static_creds(&registry.host(), wrong)), &r)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(!format!("{err} {err:?}").contains(wrong));
}

#[tokio::test]
async fn identity_token_from_docker_config() {
    let refresh = "refresh-token-abc123";
    let tokens = TokenServer::start(TokenServerOptions {
        users: vec![(USER.into(), PASSWORD.into())],
        refresh_tokens: vec![(refresh.into(), USER.into())],
        anonymous_pull: false,
        ..Default::default()
    });
    let registry = Registry::start_with(tokens.registry_auth());
    BaseImage::busybox().push(
        &registry.host(),
        "team/busybox:latest",
        Some((USER, PASSWORD)),
        ImageFormat::Oci,
    );
    let dir = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("<token>:");
    let config =
        serde_json::json!({"auths": {registry.host(): {"auth": auth, "identitytoken": refresh}}});
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let client = client_with(CredentialSource::DockerConfig(DockerConfig::new(
        dir.path().join("config.json"),
    )));
    let r = reference(&registry.host(), "team/busybox:latest");
    let skopeo_requests = tokens.requests.lock().unwrap().len();
    pull_all(&client, &r).await.unwrap();
    client.check_push_access(&r).await.unwrap();
    let requests = tokens.requests.lock().unwrap()[skopeo_requests..].to_vec();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|t| t.method == "POST" && t.grant_type.as_deref() == Some("refresh_token")),
        "{requests:#?}"
    );
    assert!(!format!("{client:?}").contains(refresh));
}

#[tokio::test]
async fn docker_config_auths_and_cred_helpers() {
    let registry = htpasswd_registry();
    let r = reference(&registry.host(), "busybox:latest");
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.json");

    // `auths` with base64 user:password, as `docker login` writes it.
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let config =
        serde_json::json!({"auths": {format!("http://{}", registry.host()): {"auth": auth}}});
    std::fs::write(&config_path, config.to_string()).unwrap();
    let docker = DockerConfig::new(&config_path);
    pull_all(
        &client_with(CredentialSource::DockerConfig(docker.clone())),
        &r,
    )
    .await
    .unwrap();

    // `credHelpers` running `docker-credential-test get` with the server on stdin.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("helper.log");
    let script = format!(
        r#"#!/bin/sh
input=$(cat)
echo "$1 $input" >> {log}
case "$1" in
  get) printf '{{"ServerURL":"%s","Username":"{USER}","Secret":"{PASSWORD}"}}' "$input" ;;
  store|erase) ;;
  *) exit 1 ;;
esac
"#,
        log = log.display()
    );
    let helper = bin.join("docker-credential-test");
    std::fs::write(&helper, script).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = serde_json::json!({"credHelpers": {registry.host(): "test"}});
    std::fs::write(&config_path, config.to_string()).unwrap();
    let docker = DockerConfig::new(&config_path).with_helper_dir(&bin);
    pull_all(
        &client_with(CredentialSource::DockerConfig(docker.clone())),
        &r,
    )
    .await
    .unwrap();
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(calls.trim(), format!("get {}", registry.host()));

    // Login/logout through the helper: the secret goes to the helper, the file keeps
    // only docker's empty marker entry.
    docker
        .store(&registry.host(), &Credentials::basic(USER, PASSWORD))
        .await
        .unwrap();
    let file = std::fs::read_to_string(&config_path).unwrap();
    assert!(!file.contains(PASSWORD), "{file}");
    let v: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert_eq!(v["auths"][registry.host()], serde_json::json!({}));
    assert!(docker.erase(&registry.host()).await.unwrap());
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains(&format!("store {{\"ServerURL\":\"{}\"", registry.host())),
        "{calls}"
    );
    assert!(
        calls.contains(&format!("erase {}", registry.host())),
        "{calls}"
    );
}

#[test]
fn credentials_are_redacted_in_debug_output() {
    let creds = Credentials::basic("bob", "hunter2-secret");
    let source = CredentialSource::Static(vec![("r.example".into(), creds.clone())]);
    let token = Credentials::IdentityToken("tok-secret".into());
    for shown in [
        format!("{creds:?}"),
        format!("{source:?}"),
        format!("{token:?}"),
    ] {
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok-secret"),
            "{shown}"
        );
    }
    assert!(
        format!("{creds:?}").contains("bob"),
        "user names are not secret"
    );
}

#[tokio::test]
async fn rejected_token_is_refreshed_on_401() {
    let tokens = TokenServer::start(TokenServerOptions {
        users: vec![(USER.into(), PASSWORD.into())],
        ..Default::default()
    });
    let registry = Registry::start_with(tokens.registry_auth());
    BaseImage::busybox().push(
        &registry.host(),
        "team/busybox:latest",
        Some((USER, PASSWORD)),
        ImageFormat::Oci,
    );
    let proxy = FaultProxy::start(registry.addr);
    let r = reference(&proxy.host(), "team/busybox:latest");
    let client = client_with(CredentialSource::Anonymous);
    pull_all(&client, &r).await.unwrap();
    let before = tokens.tokens_issued();
    // The registry rejects the cached token (as it would an expired or revoked one): the
    // client fetches a new token and retries, transparently.
    proxy.clear_requests();
    proxy.set_rules(vec![
        FaultRule::new("GET", "/manifests/", 1, Fault::StripAuth).times(1),
    ]);
    pull_all(&client, &r).await.unwrap();
    assert_eq!(tokens.tokens_issued(), before + 1);
    let log = proxy.requests();
    assert_eq!(
        log.iter().filter(|r| r.status == 401).count(),
        1,
        "{log:#?}"
    );
}
