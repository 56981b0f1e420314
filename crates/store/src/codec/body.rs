//! A direct reader of a record's canonical bytes, for the shapes the store writes.
//!
//! rmp-serde's generic deserializer costs several hundred nanoseconds per record, which is
//! most of a warm stream read and a third of a full-log scan. The canonical bytes always
//! come from one serializer, so their shape is fixed: a 14-element array whose integers,
//! strings and byte strings use the markers below. This reader accepts exactly those and
//! answers `None` for anything else, so the caller falls back to rmp-serde, which then
//! accepts or refuses the bytes (with its message) as it always did.

use uuid::Uuid;

use super::Body;

/// Fields in [`Body`]; MessagePack's fixarray marker for it.
const FIELDS: u8 = 14;
const FIXARRAY: u8 = 0x90;

/// The body of a record's canonical bytes, if they have the serializer's shape and end
/// where the body does.
pub(super) fn read(bytes: &[u8]) -> Option<Body<'_>> {
    let mut r = Reader { bytes, at: 0 };
    if r.byte()? != FIXARRAY | FIELDS {
        return None;
    }
    let body = Body {
        seq: r.uint()?,
        stream: r.str()?,
        version: r.uint()?,
        event_id: r.uuid()?,
        event_type: r.str()?,
        schema_version: u16::try_from(r.uint()?).ok()?,
        recorded_at: r.int()?,
        occurred_at: r.int()?,
        actor: r.str()?,
        correlation_id: r.option(Reader::uuid)?,
        causation_id: r.option(Reader::uuid)?,
        idempotency_key: r.option(Reader::str)?,
        payload: r.bin()?,
        prev_hash: r.bin()?,
    };
    (r.at == bytes.len()).then_some(body)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn be<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn uint(&mut self) -> Option<u64> {
        Some(match self.byte()? {
            b @ 0x00..=0x7f => u64::from(b),
            0xcc => u64::from(self.byte()?),
            0xcd => u64::from(u16::from_be_bytes(self.be()?)),
            0xce => u64::from(u32::from_be_bytes(self.be()?)),
            0xcf => u64::from_be_bytes(self.be()?),
            _ => return None,
        })
    }

    fn int(&mut self) -> Option<i64> {
        Some(match self.byte()? {
            b @ 0x00..=0x7f => i64::from(b),
            b @ 0xe0..=0xff => i64::from(b as i8),
            0xcc => i64::from(self.byte()?),
            0xcd => i64::from(u16::from_be_bytes(self.be()?)),
            0xce => i64::from(u32::from_be_bytes(self.be()?)),
            0xcf => i64::try_from(u64::from_be_bytes(self.be()?)).ok()?,
            0xd0 => i64::from(i8::from_be_bytes(self.be()?)),
            0xd1 => i64::from(i16::from_be_bytes(self.be()?)),
            0xd2 => i64::from(i32::from_be_bytes(self.be()?)),
            0xd3 => i64::from_be_bytes(self.be()?),
            _ => return None,
        })
    }

    fn len(&mut self, marker: u8, short: u8) -> Option<usize> {
        // `short` is the marker of the 8-bit length; 16- and 32-bit lengths follow it.
        Some(match marker {
            m if m == short => usize::from(self.byte()?),
            m if m == short + 1 => usize::from(u16::from_be_bytes(self.be()?)),
            m if m == short + 2 => usize::try_from(u32::from_be_bytes(self.be()?)).ok()?,
            _ => return None,
        })
    }

    fn str(&mut self) -> Option<&'a str> {
        let marker = self.byte()?;
        let len = match marker {
            0xa0..=0xbf => usize::from(marker & 0x1f),
            _ => self.len(marker, 0xd9)?,
        };
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn bin(&mut self) -> Option<&'a [u8]> {
        let marker = self.byte()?;
        let len = self.len(marker, 0xc4)?;
        self.take(len)
    }

    fn uuid(&mut self) -> Option<Uuid> {
        Uuid::from_slice(self.bin()?).ok()
    }

    fn option<T>(&mut self, read: fn(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.bytes.get(self.at) == Some(&0xc0) {
            self.at += 1;
            return Some(None);
        }
        read(self).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn serde_body(bytes: &[u8]) -> Option<Body<'_>> {
        rmp_serde::from_slice(bytes).ok()
    }

    fn body<'a>(
        nums: (u64, u64, u16, i64, i64),
        texts: (&'a str, &'a str, &'a str, Option<&'a str>),
        ids: (u128, Option<u128>, Option<u128>),
        payload: &'a [u8],
    ) -> Body<'a> {
        Body {
            seq: nums.0,
            stream: texts.0,
            version: nums.1,
            event_id: Uuid::from_u128(ids.0),
            event_type: texts.1,
            schema_version: nums.2,
            recorded_at: nums.3,
            occurred_at: nums.4,
            actor: texts.2,
            correlation_id: ids.1.map(Uuid::from_u128),
            causation_id: ids.2.map(Uuid::from_u128),
            idempotency_key: texts.3,
            payload,
            prev_hash: &[7; 32],
        }
    }

    proptest! {
        // Long strings and payloads take the 16- and 32-bit length markers; they are slow to
        // generate, and fewer cases still reach every marker.
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the serializer writes, the direct reader reads as rmp-serde does.
        #[test]
        fn reads_what_the_serializer_writes_as_rmp_serde_does(
            nums in (any::<u64>(), any::<u64>(), any::<u16>(), any::<i64>(), any::<i64>()),
            texts in (".{0,40}", "[A-Za-z]{0,300}", ".{0,3}", proptest::option::of(".{0,70000}")),
            ids in (any::<u128>(), proptest::option::of(any::<u128>()), proptest::option::of(any::<u128>())),
            payload in proptest::collection::vec(any::<u8>(), 0..70_000),
        ) {
            let texts = (texts.0.as_str(), texts.1.as_str(), texts.2.as_str(), texts.3.as_deref());
            let written = body(nums, texts, ids, &payload);
            let mut bytes = Vec::new();
            rmp_serde::encode::write(&mut bytes, &written).unwrap();
            let direct = read(&bytes);
            prop_assert!(direct.is_some(), "the direct reader refused the serializer's bytes");
            prop_assert_eq!(direct, serde_body(&bytes));
        }

        /// On damaged bytes the direct reader never panics, and whatever it accepts
        /// rmp-serde reads the same way.
        #[test]
        fn on_damaged_bytes_it_agrees_with_rmp_serde_or_declines(
            cut in 0usize..200,
            flips in proptest::collection::vec((0usize..200, any::<u8>()), 0..4),
        ) {
            let written = body((5, 2, 1, -3, 1 << 40), ("deal-1", "StageChanged", "rep:a", Some("k")), (9, None, Some(3)), b"\x81\xa1a\x01");
            let mut bytes = Vec::new();
            rmp_serde::encode::write(&mut bytes, &written).unwrap();
            for (at, x) in flips {
                let n = bytes.len();
                bytes[at % n] ^= x;
            }
            bytes.truncate(bytes.len().saturating_sub(cut % 8));
            if let Some(direct) = read(&bytes) {
                prop_assert_eq!(Some(direct), serde_body(&bytes));
            }
        }
    }
}
