//! Exec vertices: RUN steps in the sandbox.

use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use crate::contenthash::Selection;
use crate::fileop::{Excluder, RootDir};
use crate::graph::{CacheSharing, ExecOp, MountKind, NetworkMode, Vertex, VertexId};
use crate::sandbox::{
    self, CancelHandle, EtcFiles, Mount, Network, ProcessSpec, RootMount, Stream,
};

use super::keys::{KeyInput, step_key};
use super::mounts::{Overlay, StepDir, io, mask_layer};
use super::scheduler::{Done, LayerRef, VertexOutput};
use super::{Event, SecretSource, SolveError, Solver, hex};

impl Solver<'_> {
    /// The digest an input contributes to a step's key: its own key for a
    /// layered filesystem; for the context, the content of the paths read.
    fn exec_input_keys(&self, x: &ExecOp, inputs: &[Done]) -> Result<Vec<[u8; 32]>, SolveError> {
        let mut keys = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            match &input.output {
                VertexOutput::Layers(_) => keys.push(input.key),
                VertexOutput::Dir { .. } => {
                    let sources: Vec<String> = x
                        .mounts
                        .iter()
                        .filter_map(|m| match &m.kind {
                            MountKind::Bind {
                                input: j, selector, ..
                            } if *j == i => Some(selector.clone()),
                            MountKind::Cache {
                                input: Some(j),
                                selector,
                                ..
                            } if *j == i => Some(selector.clone()),
                            _ => None,
                        })
                        .collect();
                    let selection = Selection {
                        follow_symlinks: true,
                        ..Default::default()
                    };
                    keys.push(self.hash_dir_selection(&input.output, &sources, selection)?);
                }
            }
        }
        Ok(keys)
    }

    /// Look a step up in the cache index: a record whose snapshot exists.
    pub(crate) fn lookup(
        &self,
        vertex: &Vertex,
        key: &[u8; 32],
    ) -> Result<Option<PathBuf>, SolveError> {
        if vertex.meta.ignore_cache {
            return Ok(None);
        }
        let record = self
            .records
            .step(key)
            .map_err(|e| SolveError::Internal(e.to_string()))?;
        // A record whose snapshot is gone (pruned, or removed by hand) is a miss.
        let dir = record
            .map(|r| self.snapshot_path(&r.snapshot))
            .filter(|p| p.is_dir());
        if dir.is_some() {
            self.touch(key);
        }
        Ok(dir)
    }

    /// Publish a step's upper directory as its snapshot, then record it.
    pub(crate) fn publish(
        &self,
        upper: &std::path::Path,
        key: &[u8; 32],
    ) -> Result<PathBuf, SolveError> {
        super::mounts::sync_tree(upper)?;
        let name = hex(key);
        let dest = self.snapshot_path(&name);
        let parent = self.snapshots_dir();
        std::fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
        if dest.exists() {
            // Another build published the same step; theirs is identical by key.
            let _ = std::fs::remove_dir_all(&dest);
        }
        std::fs::rename(upper, &dest).map_err(|e| io(&dest, e))?;
        let now = super::now_unix();
        self.records
            .put_step(
                key,
                &cache::records::StepRecord {
                    snapshot: name,
                    created: now,
                    last_used: now,
                },
            )
            .map_err(|e| SolveError::Internal(e.to_string()))?;
        Ok(dest)
    }

    pub(crate) fn run_exec(
        &self,
        id: VertexId,
        vertex: &Vertex,
        x: &ExecOp,
        inputs: &[Done],
        cancel: &CancelHandle,
    ) -> Result<(Done, bool), SolveError> {
        let input_keys = self.exec_input_keys(x, inputs)?;
        let key = step_key(&vertex.op, &input_keys);
        let Some(VertexOutput::Layers(root_chain)) = inputs.first().map(|d| &d.output) else {
            return Err(SolveError::Internal("exec root is not a filesystem".into()));
        };
        let labelled: Vec<KeyInput> = input_keys
            .iter()
            .enumerate()
            .map(|(i, digest)| KeyInput {
                label: if i == 0 {
                    "the previous step (the root filesystem)".to_string()
                } else {
                    let targets: Vec<&str> = x
                        .mounts
                        .iter()
                        .filter(|m| matches!(&m.kind, MountKind::Bind { input, .. } | MountKind::Cache { input: Some(input), .. } if *input == i))
                        .map(|m| m.target.as_str())
                        .collect();
                    format!("the source of the mount at `{}`", targets.join("`, `"))
                },
                digest: *digest,
            })
            .collect();
        if let Some(dir) = self.lookup(vertex, &key)? {
            if self.explain {
                self.remember_inputs(vertex, &labelled);
            }
            return Ok((layered(root_chain, dir, key), false));
        }
        (self.events)(Event::Started {
            id,
            name: vertex.meta.name.clone(),
        });
        self.explain_miss(id, vertex, &labelled);
        self.ensure_extracted(root_chain)?;
        let step = StepDir::new(&self.tmp_dir())?;
        let upper = step.sub("upper")?;
        let work = step.sub("work")?;
        let lower: Vec<PathBuf> = root_chain.iter().map(|l| l.dir.clone()).collect();
        let overlay = Overlay::mount(
            &lower,
            Some((&upper, &work)),
            step.path.join("merged"),
            &step.path.join("empty"),
        )?;

        let ids =
            sandbox::resolve_user(&overlay.merged, &x.user).map_err(|e| SolveError::Step {
                vertex: id,
                message: e.to_string(),
            })?;
        let mut env = x.env.clone();
        env.extend(x.proxy_env.iter().cloned());
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!(
                "HOME={}",
                sandbox::home_dir(&overlay.merged, ids.uid)
            ));
        }
        let mut mounts = Vec::new();
        let mut views = Vec::new();
        let mut cache_locks = Vec::new();
        for (n, m) in x.mounts.iter().enumerate().skip(1) {
            match &m.kind {
                MountKind::Bind {
                    input,
                    selector,
                    readonly,
                } => {
                    let source = self.mount_source(
                        id, inputs, *input, selector, &step, n, *readonly, &mut views,
                    )?;
                    mounts.push(Mount {
                        target: m.target.clone(),
                        kind: sandbox::MountKind::Bind {
                            source,
                            readonly: *readonly,
                        },
                    });
                }
                MountKind::Cache {
                    id: cache_id,
                    readonly,
                    perms,
                    sharing,
                    ..
                } => {
                    let dir = self.cache_mount_dir(cache_id, *sharing, &mut cache_locks)?;
                    if !dir.exists() {
                        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
                        let mode = perms.mode.unwrap_or(0o755);
                        let _ = std::fs::set_permissions(
                            &dir,
                            std::os::unix::fs::PermissionsExt::from_mode(mode),
                        );
                        let _ = std::os::unix::fs::chown(
                            &dir,
                            Some(perms.uid.unwrap_or(0)),
                            Some(perms.gid.unwrap_or(0)),
                        );
                    }
                    mounts.push(Mount {
                        target: m.target.clone(),
                        kind: sandbox::MountKind::Bind {
                            source: dir,
                            readonly: *readonly,
                        },
                    });
                }
                MountKind::Tmpfs { size } => mounts.push(Mount {
                    target: m.target.clone(),
                    kind: sandbox::MountKind::Tmpfs {
                        size: *size,
                        mode: None,
                    },
                }),
                MountKind::Secret {
                    id: secret_id,
                    env: env_name,
                    required,
                    perms,
                } => {
                    let value = match self.options.secrets.get(secret_id) {
                        Some(SecretSource::File(p)) => {
                            Some(std::fs::read(p).map_err(|e| io(p, e))?)
                        }
                        Some(SecretSource::Value(v)) => Some(v.clone()),
                        None if *required => {
                            return Err(SolveError::Step {
                                vertex: id,
                                message: format!(
                                    "secret `{secret_id}` is required but was not provided (use --secret id={secret_id},src=FILE)"
                                ),
                            });
                        }
                        None => None,
                    };
                    let Some(value) = value else { continue };
                    if let Some(name) = env_name {
                        env.push(format!("{name}={}", String::from_utf8_lossy(&value)));
                    }
                    if !m.target.is_empty() {
                        let dir = step.sub("secrets")?;
                        let file = dir.join(format!("{n}"));
                        std::fs::write(&file, &value).map_err(|e| io(&file, e))?;
                        let _ = std::fs::set_permissions(
                            &file,
                            std::os::unix::fs::PermissionsExt::from_mode(
                                perms.mode.unwrap_or(0o400),
                            ),
                        );
                        let _ = std::os::unix::fs::chown(
                            &file,
                            Some(perms.uid.unwrap_or(0)),
                            Some(perms.gid.unwrap_or(0)),
                        );
                        mounts.push(Mount {
                            target: m.target.clone(),
                            kind: sandbox::MountKind::Bind {
                                source: file,
                                readonly: true,
                            },
                        });
                    }
                }
                MountKind::Ssh {
                    id: ssh_id,
                    required,
                    ..
                } => match self.options.ssh.get(ssh_id) {
                    Some(sock) => {
                        mounts.push(Mount {
                            target: m.target.clone(),
                            kind: sandbox::MountKind::Bind {
                                source: sock.clone(),
                                readonly: false,
                            },
                        });
                        env.push(format!("SSH_AUTH_SOCK={}", m.target));
                    }
                    None if *required => {
                        return Err(SolveError::Step {
                            vertex: id,
                            message: format!(
                                "ssh agent `{ssh_id}` is required but was not provided (use --ssh {ssh_id}=$SSH_AUTH_SOCK)"
                            ),
                        });
                    }
                    None => {}
                },
            }
        }
        let spec = ProcessSpec {
            argv: x.args.clone(),
            env,
            cwd: x.cwd.clone(),
            user: ids,
            hostname: sandbox::DEFAULT_HOSTNAME.to_string(),
            network: match x.network {
                NetworkMode::None => Network::None,
                NetworkMode::Default | NetworkMode::Host => Network::Host,
            },
            root: vec![RootMount::bind(overlay.merged.clone())],
            mounts,
            etc: EtcFiles {
                hosts: Some(sandbox::hosts_file_with_extra(
                    sandbox::DEFAULT_HOSTNAME,
                    &x.extra_hosts,
                )),
                resolv_conf: Some(sandbox::resolv_conf_from_host()),
                hostname: None,
            },
            pids_limit: Some(sandbox::DEFAULT_PIDS_LIMIT),
        };
        let events = self.events;
        let mut sink = |stream: Stream, line: &[u8]| {
            events(Event::Log {
                id,
                stderr: matches!(stream, Stream::Stderr),
                line: String::from_utf8_lossy(line).into_owned(),
            });
        };
        let outcome = self.executor.run(&spec, &mut sink, cancel).map_err(|e| {
            if cancel.is_cancelled() {
                SolveError::Cancelled
            } else {
                SolveError::Step {
                    vertex: id,
                    message: e.to_string(),
                }
            }
        })?;
        drop(views);
        drop(cache_locks);
        let code = outcome.status.code();
        if code == 0 {
            overlay.finish()?;
        } else {
            drop(overlay);
        }
        if code != 0 {
            return Err(SolveError::ExitCode {
                vertex: id,
                command: x.args.join(" "),
                code,
            });
        }
        for stub in &outcome.created_stubs {
            remove_stub(&upper, stub);
        }
        let dir = self.publish(&upper, &key)?;
        self.remember_inputs(vertex, &labelled);
        Ok((layered(root_chain, dir, key), true))
    }

    /// The host path to bind for a `type=bind` mount. A stage or image is seen
    /// through an overlay of its layers. The build context is seen through its
    /// `.dockerignore` (ignored paths are masked by whiteouts); a read-only
    /// mount with nothing to mask binds the context itself. A writable mount
    /// always gets an overlay whose upper directory is thrown away with the
    /// step, so its writes reach neither later steps, the image, nor the host.
    #[allow(clippy::too_many_arguments)]
    fn mount_source(
        &self,
        id: VertexId,
        inputs: &[Done],
        input: usize,
        selector: &str,
        step: &StepDir,
        n: usize,
        readonly: bool,
        views: &mut Vec<Overlay>,
    ) -> Result<PathBuf, SolveError> {
        let step_err = |e: crate::fileop::FileOpError| SolveError::Step {
            vertex: id,
            message: e.to_string(),
        };
        let Some(done) = inputs.get(input) else {
            return Err(SolveError::Internal(format!("mount input {input} missing")));
        };
        let (dir, merged) = match &done.output {
            VertexOutput::Dir { path, exclude } => {
                let dir = RootDir::open(path)
                    .map_err(step_err)?
                    .hiding(Excluder::new(exclude));
                let rel = dir.resolve(selector, true).map_err(step_err)?;
                if dir.lstat(&rel).map_err(step_err)?.is_none() {
                    return Err(SolveError::Step {
                        vertex: id,
                        message: format!(
                            "bind mount source `{selector}` not found in the build context\n\
                             hint: check that it exists and is not excluded by .dockerignore"
                        ),
                    });
                }
                let hidden = dir.hidden_below(&rel).map_err(step_err)?;
                if readonly && hidden.is_empty() {
                    return Ok(path.join(rel));
                }
                let mask = step.sub(&format!("mount-{n}-mask"))?;
                mask_layer(&dir, &hidden, &mask)?;
                let merged = view(step, n, &[path.clone(), mask], readonly, views)?;
                return Ok(merged.join(rel));
            }
            VertexOutput::Layers(chain) => {
                self.ensure_extracted(chain)?;
                let lower: Vec<PathBuf> = chain.iter().map(|l| l.dir.clone()).collect();
                let merged = view(step, n, &lower, readonly, views)?;
                (RootDir::open(&merged).map_err(step_err)?, merged)
            }
        };
        // `resolve` answers relative to the root; the sandbox needs a host path.
        let rel = dir.resolve(selector, true).map_err(step_err)?;
        Ok(merged.join(rel))
    }
}

/// Mounts the overlay view `mount-<n>` of `lower` (bottom first) for a bind
/// mount and returns its path: read-only, or writable into a scratch upper
/// directory that is discarded with the step.
fn view(
    step: &StepDir,
    n: usize,
    lower: &[PathBuf],
    readonly: bool,
    views: &mut Vec<Overlay>,
) -> Result<PathBuf, SolveError> {
    let merged = step.path.join(format!("mount-{n}"));
    let empty = step.path.join("empty");
    let overlay = if readonly {
        Overlay::mount(lower, None, merged, &empty)?
    } else {
        let up = step.sub(&format!("mount-{n}-upper"))?;
        let wk = step.sub(&format!("mount-{n}-work"))?;
        Overlay::mount(lower, Some((&up, &wk)), merged, &empty)?
    };
    let path = overlay.merged.clone();
    views.push(overlay);
    Ok(path)
}

impl Solver<'_> {
    /// The directory of a cache mount, honouring its sharing mode: `shared`
    /// uses it as is; `locked` waits for an exclusive lock held until the step
    /// ends; `private` takes the lock if free and otherwise a directory of its
    /// own (`<id>-N`), so concurrent users never see each other's writes.
    fn cache_mount_dir(
        &self,
        id: &str,
        sharing: CacheSharing,
        locks: &mut Vec<std::fs::File>,
    ) -> Result<PathBuf, SolveError> {
        let base = self.root().join("cache-mounts");
        std::fs::create_dir_all(&base).map_err(|e| io(&base, e))?;
        let name = hex(&Sha256::digest(id.as_bytes()));
        let lock = |dir_name: &str, wait: bool| -> Result<Option<std::fs::File>, SolveError> {
            let path = base.join(format!("{dir_name}.lock"));
            let file = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
            let op = if wait {
                rustix::fs::FlockOperation::LockExclusive
            } else {
                rustix::fs::FlockOperation::NonBlockingLockExclusive
            };
            match rustix::fs::flock(&file, op) {
                Ok(()) => Ok(Some(file)),
                Err(rustix::io::Errno::WOULDBLOCK) if !wait => Ok(None),
                Err(e) => Err(SolveError::Internal(format!(
                    "locking `{}`: {e}",
                    path.display()
                ))),
            }
        };
        match sharing {
            CacheSharing::Shared => Ok(base.join(name)),
            CacheSharing::Locked => {
                if let Some(f) = lock(&name, true)? {
                    locks.push(f);
                }
                Ok(base.join(name))
            }
            CacheSharing::Private => {
                for n in 0u32.. {
                    let dir_name = if n == 0 {
                        name.clone()
                    } else {
                        format!("{name}-{n}")
                    };
                    if let Some(f) = lock(&dir_name, false)? {
                        locks.push(f);
                        return Ok(base.join(dir_name));
                    }
                }
                Err(SolveError::Internal("no private cache directory".into()))
            }
        }
    }
}

/// A step's output: its input's layers plus its own snapshot on top.
pub(crate) fn layered(chain: &[LayerRef], dir: PathBuf, key: [u8; 32]) -> Done {
    let mut layers = chain.to_vec();
    layers.push(LayerRef {
        dir,
        pending: None,
        step_key: Some(key),
    });
    Done {
        key,
        output: VertexOutput::Layers(layers),
    }
}

/// Remove a file or directory the sandbox created as a mount point, if it is
/// still an empty stub in the upper directory (then its empty parents too).
fn remove_stub(upper: &std::path::Path, stub: &str) {
    let rel = stub.trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|c| c == "..") {
        return;
    }
    let path = upper.join(rel);
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return;
    };
    let removed = if meta.is_dir() {
        std::fs::remove_dir(&path).is_ok()
    } else if meta.is_file() && meta.len() == 0 {
        std::fs::remove_file(&path).is_ok()
    } else {
        false
    };
    if !removed {
        return;
    }
    let mut parent = path.parent().map(|p| p.to_path_buf());
    while let Some(p) = parent {
        if p == upper || std::fs::remove_dir(&p).is_err() {
            break;
        }
        parent = p.parent().map(|p| p.to_path_buf());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{OutputSink, RunOutcome, SandboxError};
    use crate::solve::{BaseLayer, ImageProvider, SolveOptions};

    struct NoImages;
    impl ImageProvider for NoImages {
        fn layers(&self, _: &str, _: &str) -> Result<Vec<BaseLayer>, String> {
            Err("no images in this test".into())
        }
        fn open_blob(&self, _: &str) -> Result<Box<dyn std::io::Read + Send>, String> {
            Err("no blobs in this test".into())
        }
    }
    struct NoExec;
    impl crate::sandbox::Executor for NoExec {
        fn run(
            &self,
            _: &ProcessSpec,
            _: &mut dyn OutputSink,
            _: &CancelHandle,
        ) -> Result<RunOutcome, SandboxError> {
            unreachable!("no process runs in this test")
        }
    }

    #[test]
    fn cache_mount_sharing_modes() {
        let dir = tempfile::tempdir().unwrap();
        let options = SolveOptions {
            root: dir.path().to_path_buf(),
            scratch: dir.path().join("tmp"),
            context: dir.path().to_path_buf(),
            max_parallelism: 1,
            secrets: Default::default(),
            ssh: Default::default(),
        };
        let events = |_e: Event| {};
        let solver = Solver::new(options, &NoImages, &NoExec, &events);
        let mut held = Vec::new();
        let shared1 = solver
            .cache_mount_dir("go", CacheSharing::Shared, &mut held)
            .unwrap();
        let shared2 = solver
            .cache_mount_dir("go", CacheSharing::Shared, &mut held)
            .unwrap();
        assert_eq!(shared1, shared2);
        assert!(held.is_empty());
        let p1 = solver
            .cache_mount_dir("go", CacheSharing::Private, &mut held)
            .unwrap();
        let p2 = solver
            .cache_mount_dir("go", CacheSharing::Private, &mut held)
            .unwrap();
        assert_eq!(p1, shared1, "the first private user gets the cache itself");
        assert_ne!(p1, p2, "a concurrent private user gets its own directory");
        drop(held);
        let mut held = Vec::new();
        let p3 = solver
            .cache_mount_dir("go", CacheSharing::Private, &mut held)
            .unwrap();
        assert_eq!(p3, shared1, "released locks make the cache available again");
        // Locked waits: a second thread blocks until the first releases.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut mine = Vec::new();
                solver
                    .cache_mount_dir("other", CacheSharing::Locked, &mut mine)
                    .unwrap();
                tx.send("locked").unwrap();
                std::thread::sleep(std::time::Duration::from_millis(300));
                tx.send("released").unwrap();
            });
            assert_eq!(rx.recv().unwrap(), "locked");
            let mut mine = Vec::new();
            solver
                .cache_mount_dir("other", CacheSharing::Locked, &mut mine)
                .unwrap();
            assert_eq!(
                rx.try_recv().unwrap(),
                "released",
                "the second locker waited"
            );
        });
    }
}
