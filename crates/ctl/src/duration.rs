//! Durations as operators type them: `90s`, `10m`, `2h`, `1d` (a bare number is seconds).

/// Seconds of `s`.
pub fn parse(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 10m, 2h or 1d"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: the unit is s, m, h or d")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too long"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn units() {
        assert_eq!(super::parse("90"), Ok(90));
        assert_eq!(super::parse("10m"), Ok(600));
        assert_eq!(super::parse("2h"), Ok(7200));
        assert_eq!(super::parse("1d"), Ok(86_400));
        assert!(super::parse("10 minutes").is_err());
        assert!(super::parse("m").is_err());
    }
}
