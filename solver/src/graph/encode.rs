//! The canonical encoding that definition digests are computed from.
//!
//! Digests must be stable across releases and platforms, so they are never
//! derived from `Hash`, `Debug` or serde output: every op writes its fields
//! explicitly, each prefixed by a tag and its length, through [`Encoder`].

use sha2::{Digest as _, Sha256};

/// Something with a canonical, versioned byte encoding.
pub trait Canonical {
    /// Write every semantic field of `self`, in a fixed order.
    fn encode(&self, e: &mut Encoder);
}

/// A streaming sha256 over tagged, length-prefixed fields.
#[derive(Default, Clone)]
pub struct Encoder {
    hasher: Sha256,
}

impl Encoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        Self::default()
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.hasher.update((bytes.len() as u64).to_le_bytes());
        self.hasher.update(bytes);
    }

    /// A field tag; tags keep two different layouts from ever encoding alike.
    pub fn tag(&mut self, tag: &str) -> &mut Self {
        self.hasher.update(b"T");
        self.raw(tag.as_bytes());
        self
    }

    /// A string field.
    pub fn str(&mut self, tag: &str, value: &str) -> &mut Self {
        self.tag(tag);
        self.hasher.update(b"S");
        self.raw(value.as_bytes());
        self
    }

    /// A byte-string field.
    pub fn bytes(&mut self, tag: &str, value: &[u8]) -> &mut Self {
        self.tag(tag);
        self.hasher.update(b"B");
        self.raw(value);
        self
    }

    /// An integer field.
    pub fn u64(&mut self, tag: &str, value: u64) -> &mut Self {
        self.tag(tag);
        self.hasher.update(b"U");
        self.hasher.update(value.to_le_bytes());
        self
    }

    /// A boolean field.
    pub fn bool(&mut self, tag: &str, value: bool) -> &mut Self {
        self.u64(tag, u64::from(value))
    }

    /// An optional string: absent and empty encode differently.
    pub fn opt_str(&mut self, tag: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(tag, v),
            None => self.tag(tag).tag("none"),
        }
    }

    /// A list of strings, order preserved.
    pub fn strs<S: AsRef<str>>(&mut self, tag: &str, values: &[S]) -> &mut Self {
        self.u64(tag, values.len() as u64);
        for v in values {
            self.hasher.update(b"S");
            self.raw(v.as_ref().as_bytes());
        }
        self
    }

    /// A nested value.
    pub fn nested<C: Canonical + ?Sized>(&mut self, tag: &str, value: &C) -> &mut Self {
        self.tag(tag);
        value.encode(self);
        self.tag("end");
        self
    }

    /// A list of nested values.
    pub fn list<C: Canonical>(&mut self, tag: &str, values: &[C]) -> &mut Self {
        self.u64(tag, values.len() as u64);
        for v in values {
            v.encode(self);
        }
        self
    }

    /// The digest of everything written so far.
    pub fn finish(self) -> crate::graph::Digest {
        crate::graph::Digest(self.hasher.finalize().into())
    }
}
