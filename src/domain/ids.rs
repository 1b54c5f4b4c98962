//! Opaque identifiers: a type prefix and a ULID, so ids sort by creation time and say
//! what they name.

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

/// Random bytes from the operating system's CSPRNG, for keys and secrets.
pub fn random_token(prefix: &str, bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    // The thread RNG is a CSPRNG seeded from the operating system.
    rand::rng().fill_bytes(&mut buf);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&buf)
    )
}
