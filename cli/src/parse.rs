//! Text the user typed, turned into typed values: points in time, ad targeting, a seed. Each
//! refusal is a [`UsageError`] that says what was expected.

use cove_node::message::Targeting;

use crate::error::UsageError;

/// A master seed as 64 hex characters.
pub(crate) fn seed(text: &str) -> Result<[u8; 32], UsageError> {
    let bad = || UsageError::Seed(text.len());
    if text.len() != 64 || !text.is_ascii() {
        return Err(bad());
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(seed)
}

/// A point in time as unix ms: an RFC 3339 time, or a duration from now (`30d`, `0s`).
/// `flag` names the flag in the error.
pub(crate) fn when(flag: &'static str, text: &str) -> Result<u64, UsageError> {
    if let Ok(duration) = humantime::parse_duration(text) {
        return Ok(cove_node::now_ms() + duration.as_millis() as u64);
    }
    humantime::parse_rfc3339_weak(text)
        .map_err(|e| UsageError::Time {
            flag,
            value: text.to_string(),
            reason: e.to_string(),
        })
        .map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0)
        })
}

/// `interest:coffee`, `any(a,b)`, `all(a,any(b,c))`, `all()` (everyone).
pub(crate) fn targeting(text: &str) -> Result<Targeting, UsageError> {
    fn expr(input: &str) -> Result<(Targeting, &str), String> {
        let input = input.trim_start();
        for (op, is_any) in [("any(", true), ("all(", false)] {
            let Some(mut rest) = input.strip_prefix(op) else {
                continue;
            };
            let node = |items: Vec<Targeting>| {
                if is_any {
                    Targeting {
                        any: Some(items),
                        ..Default::default()
                    }
                } else {
                    Targeting {
                        all: Some(items),
                        ..Default::default()
                    }
                }
            };
            let mut items = Vec::new();
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(')') {
                return Ok((node(items), after));
            }
            loop {
                let (item, after) = expr(rest)?;
                items.push(item);
                let after = after.trim_start();
                if let Some(after) = after.strip_prefix(',') {
                    rest = after;
                } else if let Some(after) = after.strip_prefix(')') {
                    return Ok((node(items), after));
                } else {
                    return Err(format!("expected ',' or ')' at {after:?}"));
                }
            }
        }
        let end = input.find([',', ')', '(']).unwrap_or(input.len());
        let key = input[..end].trim();
        if key.is_empty() {
            return Err(format!("expected a targeting key at {input:?}"));
        }
        Ok((
            Targeting {
                key: Some(key.to_string()),
                ..Default::default()
            },
            &input[end..],
        ))
    }
    match expr(text) {
        Ok((targeting, rest)) if rest.trim().is_empty() => Ok(targeting),
        Ok((_, rest)) => Err(UsageError::Targeting(format!("unexpected {rest:?}"))),
        Err(e) => Err(UsageError::Targeting(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targeting_expressions_nest_and_errors_say_what_was_expected() {
        let t = targeting("any(interest:coffee, all(area:gangnam,age:20s))").unwrap();
        let any = t.any.unwrap();
        assert_eq!(any[0].key.as_deref(), Some("interest:coffee"));
        assert_eq!(any[1].all.as_ref().unwrap().len(), 2);
        assert!(targeting("all()").unwrap().all.unwrap().is_empty());
        let e = targeting("any(interest:coffee,").unwrap_err().to_string();
        assert!(e.starts_with("--target: expected a targeting key"), "{e}");
        assert!(
            e.ends_with("(expected e.g. any(interest:coffee,area:gangnam))"),
            "{e}"
        );
        let e = targeting("a) b").unwrap_err().to_string();
        assert_eq!(
            e,
            "--target: unexpected \") b\" (expected e.g. any(interest:coffee,area:gangnam))"
        );
    }

    #[test]
    fn a_time_is_a_duration_from_now_or_rfc_3339() {
        assert_eq!(
            when("--until", "2027-01-01T00:00:00Z").unwrap(),
            1_798_761_600_000
        );
        assert!(when("--until", "1h").unwrap() > cove_node::now_ms());
        let e = when("--until", "someday").unwrap_err().to_string();
        assert!(
            e.starts_with("--until \"someday\" is neither a duration (30d) nor an RFC 3339"),
            "{e}"
        );
    }

    #[test]
    fn a_seed_is_64_hex_characters() {
        assert_eq!(seed(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        let e = seed("abc").unwrap_err().to_string();
        assert_eq!(e, "a seed is 64 hex characters, got 3 characters");
        assert!(seed(&"zz".repeat(32)).is_err());
    }
}
