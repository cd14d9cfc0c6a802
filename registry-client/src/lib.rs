//! An OCI distribution client: references, auth, pull and push with retries.
#![warn(missing_docs)]
