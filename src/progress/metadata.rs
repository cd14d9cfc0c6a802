//! `[internal] load metadata for IMAGE`: base-image resolution as numbered
//! steps, as BuildKit shows it, with the image's downloads reported under it.

use frontend::Platform;
use frontend::lower::{ImageResolver, ResolvedImage};

use super::Progress;

/// An [`ImageResolver`] that shows each resolution as an internal step.
pub struct MetadataSteps<'a, R> {
    resolver: &'a R,
    progress: &'a Progress,
}

impl<'a, R: ImageResolver> MetadataSteps<'a, R> {
    /// Wrap `resolver`, reporting to `progress`.
    pub fn new(resolver: &'a R, progress: &'a Progress) -> Self {
        Self { resolver, progress }
    }
}

impl<R: ImageResolver> ImageResolver for MetadataSteps<'_, R> {
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String> {
        // BuildKit names the image in its full form: `docker.io/library/busybox:latest`.
        let shown = registry_client::Reference::parse(reference)
            .map(|r| r.to_string())
            .unwrap_or_else(|_| reference.to_owned());
        self.progress
            .internal(&format!("[internal] load metadata for {shown}"), |step| {
                step.pulls(|| self.resolver.resolve(reference, platform))
            })
    }
}
