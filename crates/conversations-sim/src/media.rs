//! Media bytes are derived from the media id, so nothing is stored and tests can compute what a
//! download must return. Ids starting with `gone-` answer 404, those starting with
//! `forbidden-` answer 403 to any token (media this service will not give us).

/// The bytes served for `media_id` of `size` bytes (a PNG signature, then a deterministic stream).
pub fn bytes_for(media_id: &str, size: usize) -> Vec<u8> {
    let mut x: u64 = 0xcbf29ce484222325;
    for b in media_id.bytes() {
        x = (x ^ b as u64).wrapping_mul(0x100000001b3);
    }
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]);
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push((x >> 24) as u8);
    }
    out.truncate(size);
    out
}

/// True for media the service reports gone.
pub fn is_gone(media_id: &str) -> bool {
    media_id.starts_with("gone-")
}

/// True for media the service refuses to anyone (403, whatever the token).
pub fn is_forbidden(media_id: &str) -> bool {
    media_id.starts_with("forbidden-")
}

/// The size of a media id's bytes: encoded in the id as its `-s<size>` suffix, else 1 KiB.
pub fn size_for(media_id: &str) -> usize {
    media_id
        .rsplit_once("-s")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(1024)
}
