//! `GET /attachments/{id}`: the stored bytes, served inert. They come from the source's media
//! service, so they are hostile until proven otherwise: never sniffed, sandboxed, and shown
//! inline only for a short list of media types a browser renders without running anything;
//! everything else (HTML, SVG, scripts, unknown types) is a download. Streamed from the store,
//! or (`blobs.serve = "presigned"`, object storage) a 302 to a short-lived presigned URL whose
//! answer carries the same type, disposition and cache rule.

use super::shared::{conn, parse_id};
use crate::auth::AppUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::views::errors::Errors;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use migrator_core::blob::PresignedGet;
use migrator_core::ids::AttachmentId;
use migrator_runtime::settings::BlobServe;
use migrator_store::queries::{destination::accounts, destination::inbox};
use std::time::Duration;

/// Media types shown inline (no SVG: it runs script).
const INLINE: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/bmp",
    "image/heic",
    "application/pdf",
];

/// The type served: the stored one's `type/subtype` when it is a plain token pair, else bytes.
fn media_type(stored: Option<&str>) -> String {
    let essence = stored
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| {
            let mut parts = v.splitn(2, '/');
            let token = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
            };
            matches!((parts.next(), parts.next()), (Some(t), Some(s)) if token(t) && token(s))
        });
    essence.unwrap_or_else(|| "application/octet-stream".into())
}

fn inline(media_type: &str) -> bool {
    INLINE.contains(&media_type)
        || media_type.starts_with("audio/")
        || media_type.starts_with("video/")
}

/// The longest file name put in a header, in bytes of UTF-8 (file systems' common limit).
const MAX_NAME_BYTES: usize = 255;

/// `filename*=UTF-8''…` (RFC 6266 / 8187): every byte outside attr-char percent-encoded, so no
/// quote, semicolon or line break of a source file name reaches the header; a name over
/// [`MAX_NAME_BYTES`] is cut at a character boundary, so the header always decodes as UTF-8.
fn disposition(kind: &str, file_name: Option<&str>) -> String {
    let name = file_name.filter(|n| !n.is_empty()).unwrap_or("attachment");
    let mut end = name.len().min(MAX_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut enc = String::new();
    for b in name[..end].bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename*=UTF-8''{enc}")
}

/// The stored bytes, inert: `nosniff`, `Content-Security-Policy: sandbox`, a download unless
/// the type is a safe image, audio, video or PDF.
#[utoipa::path(get, path = "/attachments/{id}", tag = "app", security(("bearer" = [])),
    params(("id" = AttachmentId, Path, description = "a stored attachment of the caller")),
    responses(
        (status = 200, description = "the bytes, with the stored media type", content_type = "*/*", body = Vec<u8>),
        (status = 302, description = "blobs.serve = presigned: the bytes at Location, a presigned URL of the object store good for blobs.presign_secs"),
        Errors))]
pub async fn get_attachment(
    st: web::Data<AppState>,
    user: AppUser,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id: AttachmentId = parse_id(&path)?;
    let mut c = conn(&st).await?;
    let account = accounts::find_by_shopper(&mut c, &user.shopper_id).await?;
    let a = inbox::attachment(&mut c, account.id, id).await?;
    drop(c);
    let (Some(key), "stored") = (a.blob_key.as_deref(), a.status.as_str()) else {
        return Err(ApiError::not_found("stored attachment"));
    };
    let media_type = media_type(a.content_type.as_deref());
    let kind = if inline(&media_type) {
        "inline"
    } else {
        "attachment"
    };
    let disposition = disposition(kind, a.file_name.as_deref());
    if st.settings.blobs.serve == BlobServe::Presigned {
        let get = PresignedGet {
            content_type: &media_type,
            disposition: &disposition,
            ttl: Duration::from_secs(st.settings.blobs.presign_secs),
        };
        match st.blobs.presign_get(key, &get).await {
            Ok(Some(url)) => {
                return Ok(HttpResponse::Found()
                    .insert_header((header::LOCATION, url))
                    .insert_header((header::CACHE_CONTROL, "private, no-store"))
                    .insert_header((header::REFERRER_POLICY, "no-referrer"))
                    .finish())
            }
            Ok(None) => {}
            // the bytes can still come through the api
            Err(e) => tracing::warn!(attachment = %a.id, error = %e, "not presigned; streamed"),
        }
    }
    let blob = st.blobs.open(key).await.map_err(|e| {
        tracing::error!(attachment = %a.id, error = %e, "stored attachment unreadable");
        match e.kind() {
            std::io::ErrorKind::NotFound => ApiError::not_found("stored attachment"),
            // the store failing (5xx, throttling, a timeout) is not the attachment missing
            _ => ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the attachment store did not answer; try again",
            ),
        }
    })?;
    Ok(HttpResponse::Ok()
        .content_type(media_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox"))
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .no_chunking(blob.size)
        .streaming(blob.bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_media_types_are_kept_and_few_are_inline() {
        assert_eq!(media_type(Some("image/PNG; x=1")), "image/png");
        assert_eq!(media_type(Some("text/html")), "text/html");
        for bad in [
            None,
            Some(""),
            Some("html"),
            Some("a/b/c"),
            Some("text/html\r\nX: y"),
        ] {
            assert_eq!(media_type(bad), "application/octet-stream", "{bad:?}");
        }
        assert!(inline("image/png") && inline("video/mp4") && inline("application/pdf"));
        for t in [
            "text/html",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/javascript",
        ] {
            assert!(!inline(t), "{t}");
        }
    }

    #[test]
    fn file_names_cannot_break_the_header() {
        assert_eq!(
            disposition("attachment", Some("a b\";\r\nX: é.html")),
            "attachment; filename*=UTF-8''a%20b%22%3B%0D%0AX%3A%20%C3%A9.html"
        );
        assert_eq!(
            disposition("inline", None),
            "inline; filename*=UTF-8''attachment"
        );
        // 254 ASCII bytes and a two-byte é: the é does not fit and is left out whole
        let long = format!("{}é", "a".repeat(254));
        let d = disposition("attachment", Some(&long));
        assert!(d.ends_with(&format!("''{}", "a".repeat(254))), "{d}");
        let decoded = d.rsplit("''").next().unwrap();
        assert!(!decoded.contains('%'), "no half character: {d}");
        let emoji = "🎉".repeat(100);
        let d = disposition("attachment", Some(&emoji));
        assert_eq!(
            d.matches("%F0%9F%8E%89").count(),
            63,
            "63 whole emoji fit in 255 bytes"
        );
        assert!(d.ends_with("%F0%9F%8E%89"), "{d}");
    }
}
