//! `migratorctl`'s exit statuses, one per kind of outcome, so scripts can tell them apart
//! (docs/operations.md lists them).

use reqwest::StatusCode;

/// The answer was a success.
pub const OK: i32 = 0;
/// The api refused the request (400, 401, 403, 422, 429: bad input, token or rate).
pub const REFUSED: i32 = 1;
/// The command line was wrong (clap's own status), or a confirmation was not given.
pub const USAGE: i32 = 2;
/// What was named does not exist (404).
pub const NOT_FOUND: i32 = 3;
/// The request conflicts with the state it met (409: nothing to cancel, already over…).
pub const CONFLICT: i32 = 4;
/// The api failed (5xx).
pub const SERVER: i32 = 5;
/// The api could not be reached, or did not answer in time.
pub const UNREACHABLE: i32 = 6;
/// A verification found differences (`diff`), or could not run (`failed`).
pub const DIFF: i32 = 7;
/// A verification was still running when `--timeout` passed.
pub const TIMEOUT: i32 = 8;

/// The exit status of an HTTP answer.
pub fn of(status: StatusCode) -> i32 {
    match status.as_u16() {
        200..=399 => OK,
        404 => NOT_FOUND,
        409 => CONFLICT,
        500..=599 => SERVER,
        _ => REFUSED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_answer_has_its_status() {
        assert_eq!(of(StatusCode::OK), OK);
        assert_eq!(of(StatusCode::ACCEPTED), OK);
        assert_eq!(of(StatusCode::BAD_REQUEST), REFUSED);
        assert_eq!(of(StatusCode::UNAUTHORIZED), REFUSED);
        assert_eq!(of(StatusCode::NOT_FOUND), NOT_FOUND);
        assert_eq!(of(StatusCode::CONFLICT), CONFLICT);
        assert_eq!(of(StatusCode::SERVICE_UNAVAILABLE), SERVER);
    }
}
