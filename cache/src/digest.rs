//! Content digests: the names of everything in the content store.
//!
//! strata only writes sha256 (as every registry and the OCI image spec default do), so a
//! [`Digest`] is 32 bytes, parsed from and displayed as `sha256:<64 lowercase hex>`.

use std::fmt;
use std::io;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// The algorithm prefix of every digest strata reads and writes.
const PREFIX: &str = "sha256:";

/// A sha256 content digest, e.g. `sha256:e3b0c442...b855`.
///
/// It is the name of a blob in `store/blobs/sha256/<hex>` and the `digest` of an OCI
/// descriptor. Parsing is strict (lowercase hex only, as the OCI image spec requires for
/// sha256) so that one blob never has two spellings.
///
/// ```
/// use cache::Digest;
/// let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse()?;
/// assert_eq!(d, Digest::of(b""));
/// # Ok::<(), cache::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(value: &str) -> Result<Digest> {
        let invalid = |reason| Error::InvalidDigest {
            value: value.to_owned(),
            reason,
        };
        let hex_part = value
            .strip_prefix(PREFIX)
            .ok_or_else(|| invalid("expected the `sha256:` algorithm prefix"))?;
        Digest::from_hex(hex_part).map_err(|_| invalid("expected 64 lowercase hex digits"))
    }

    /// Parses the 64 lowercase hex digits alone, as found in a blob's file name.
    pub fn from_hex(hex_part: &str) -> Result<Digest> {
        let invalid = || Error::InvalidDigest {
            value: hex_part.to_owned(),
            reason: "expected 64 lowercase hex digits",
        };
        let well_formed = hex_part.len() == 64
            && hex_part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !well_formed {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| invalid())?;
        Ok(Digest(bytes))
    }

    /// The digest of `data`, for small in-memory blobs (configs, manifests).
    pub fn of(data: &[u8]) -> Digest {
        let mut digester = Digester::new();
        digester.update(data);
        digester.finish()
    }

    /// The 64 lowercase hex digits without the algorithm prefix: the blob's file name.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw 32 bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Digest> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = Error;

    /// Converts the digest of an [`oci_spec`] descriptor; fails for algorithms other than
    /// sha256.
    fn try_from(d: &oci_spec::image::Digest) -> Result<Digest> {
        Digest::parse(d.as_ref())
    }
}

impl From<Digest> for oci_spec::image::Digest {
    fn from(d: Digest) -> oci_spec::image::Digest {
        let hex_part = d.hex();
        match oci_spec::image::Sha256Digest::from_str(&hex_part) {
            Ok(sha) => sha.into(),
            // Invariant: `hex_part` is 64 lowercase hex digits, exactly what oci-spec
            // checks for; there is no infallible constructor to call instead.
            Err(e) => unreachable!("oci-spec rejected sha256 hex `{hex_part}`: {e}"),
        }
    }
}

/// The sha256 of the empty string.
#[cfg(test)]
const EMPTY_SHA256_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A streaming sha256 hasher that yields a [`Digest`].
///
/// It implements [`io::Write`] so it can sit at the end of `io::copy` or inside a tee; the
/// content store's writer and reader use it to hash while they write or read.
#[derive(Clone, Default)]
pub struct Digester(Sha256);

impl Digester {
    /// A hasher that has seen no bytes yet.
    pub fn new() -> Digester {
        Digester(Sha256::new())
    }

    /// Feeds `data` to the hash.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of every byte fed so far.
    pub fn finish(self) -> Digest {
        Digest(self.0.finalize().into())
    }
}

impl fmt::Debug for Digester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digester(sha256)")
    }
}

impl io::Write for Digester {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_round_trip() {
        let text = format!("sha256:{EMPTY_SHA256_HEX}");
        let d = Digest::parse(&text).unwrap();
        assert_eq!(d.to_string(), text);
        assert_eq!(d, Digest::of(b""));
        assert_eq!(d.hex(), EMPTY_SHA256_HEX);
    }

    #[test]
    fn rejects_malformed_digests() {
        for bad in [
            "",
            "sha256:",
            EMPTY_SHA256_HEX,
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855a",
            "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            let err = Digest::parse(bad).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn streaming_equals_one_shot() {
        let mut digester = Digester::new();
        digester.update(b"hello ");
        io::Write::write_all(&mut digester, b"world").unwrap();
        assert_eq!(digester.finish(), Digest::of(b"hello world"));
    }

    #[test]
    fn converts_to_and_from_oci_spec() {
        let d = Digest::of(b"x");
        let oci: oci_spec::image::Digest = d.into();
        assert_eq!(oci.to_string(), d.to_string());
        assert_eq!(Digest::try_from(&oci).unwrap(), d);
    }

    #[test]
    fn serde_uses_the_text_form() {
        let d = Digest::of(b"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    }
}
