//! Postcard's primitive encodings: LEB128 varints, zigzag, fixed little-endian floats, the bounds
//! checked input [`Reader`], and [`WirePrim`], one implementation per scalar type.
//!
//! This module owns byte-level rules only; which bytes a whole value becomes is the plan's job.
//! The rules match `postcard` 1.x exactly, including which inputs it refuses: a varint may be
//! longer than minimal but not longer than its type allows, and its last byte may not carry
//! bits the type cannot hold.

/// A read failed below the level of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadFail {
    /// The input ended.
    End,
    /// A varint was too long or overflowed its type.
    Varint,
    /// A bool byte other than 0 or 1.
    Bool(u8),
    /// A char that is not exactly one UTF-8 scalar value.
    Char,
}

/// A cursor over the input. Every read checks the remaining length first.
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
    /// How many more zero-byte items (e.g. elements of a `Vec<()>`) this input may ask for.
    pub(crate) empty_budget: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            empty_budget: crate::MAX_EMPTY_ITEMS,
        }
    }

    #[inline(always)]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline(always)]
    pub(crate) fn byte(&mut self) -> Result<u8, ReadFail> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(ReadFail::End),
        }
    }

    #[inline(always)]
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ReadFail> {
        if n <= self.remaining() {
            let out = &self.buf[self.pos..self.pos + n];
            self.pos += n;
            Ok(out)
        } else {
            Err(ReadFail::End)
        }
    }

    #[inline(always)]
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ReadFail> {
        match self.buf.get(self.pos..self.pos + N) {
            Some(bytes) => {
                self.pos += N;
                let mut out = [0u8; N];
                out.copy_from_slice(bytes);
                Ok(out)
            }
            None => Err(ReadFail::End),
        }
    }

    /// An unsigned varint of at most `MAX` bytes whose last byte is at most `LAST`.
    #[inline(always)]
    fn varint<const MAX: usize, const LAST: u8>(&mut self) -> Result<u64, ReadFail> {
        let first = self.byte()?;
        if first < 0x80 {
            return Ok(u64::from(first));
        }
        let mut out = u64::from(first & 0x7f);
        for i in 1..MAX {
            let b = self.byte()?;
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == MAX - 1 && b > LAST {
                    return Err(ReadFail::Varint);
                }
                return Ok(out);
            }
        }
        Err(ReadFail::Varint)
    }

    #[inline(always)]
    pub(crate) fn varint_u16(&mut self) -> Result<u16, ReadFail> {
        self.varint::<3, 0x03>().map(|v| v as u16)
    }

    #[inline(always)]
    pub(crate) fn varint_u32(&mut self) -> Result<u32, ReadFail> {
        self.varint::<5, 0x0f>().map(|v| v as u32)
    }

    #[inline(always)]
    pub(crate) fn varint_u64(&mut self) -> Result<u64, ReadFail> {
        self.varint::<10, 0x01>()
    }

    /// A length or `usize`: postcard writes `usize` as a varint of the target's pointer width.
    #[inline(always)]
    pub(crate) fn varint_usize(&mut self) -> Result<usize, ReadFail> {
        #[cfg(target_pointer_width = "64")]
        {
            self.varint_u64().map(|v| v as usize)
        }
        #[cfg(target_pointer_width = "32")]
        {
            self.varint_u32().map(|v| v as usize)
        }
        #[cfg(target_pointer_width = "16")]
        {
            self.varint_u16().map(|v| v as usize)
        }
    }

    pub(crate) fn varint_u128(&mut self) -> Result<u128, ReadFail> {
        let mut out: u128 = 0;
        for i in 0..19 {
            let b = self.byte()?;
            out |= u128::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == 18 && b > 0x03 {
                    return Err(ReadFail::Varint);
                }
                return Ok(out);
            }
        }
        Err(ReadFail::Varint)
    }
}

/// Appends `v` as an unsigned LEB128 varint.
#[inline(always)]
pub(crate) fn put_varint_u64(w: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        w.push(v as u8);
    } else {
        put_varint_u64_long(w, v);
    }
}

#[inline(never)]
fn put_varint_u64_long(w: &mut Vec<u8>, v: u64) {
    // Reserve exactly what the varint takes: `encode_to_vec` sizes its buffer from the last
    // encoding, so reserving more near the end would reallocate for nothing.
    let n = varint_len(v);
    w.reserve(n);
    // SAFETY: `n` bytes of spare capacity were reserved, and the varint takes `n`.
    unsafe {
        let len = w.len();
        write_varint_u64(w.as_mut_ptr().add(len), v);
        w.set_len(len + n);
    }
}

/// How many bytes the varint of `v` takes.
#[inline(always)]
fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Writes `v` as a varint at `dst` and returns how many bytes it took
/// ([`varint_len`]`(v)`, at most 10).
///
/// # Safety
///
/// `dst` must be valid for writing `varint_len(v)` bytes.
#[inline(always)]
unsafe fn write_varint_u64(dst: *mut u8, mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        // SAFETY: the loop writes `varint_len(v) - 1` bytes and the line after it one more.
        unsafe { dst.add(n).write((v as u8) | 0x80) };
        v >>= 7;
        n += 1;
    }
    // SAFETY: as above.
    unsafe { dst.add(n).write(v as u8) };
    n + 1
}

/// Appends `bytes` with a varint length before them (a postcard string or byte buffer),
/// growing `w` at most once.
#[inline(always)]
pub(crate) fn put_len_prefixed(w: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    let head = if n < 0x80 { 1 } else { varint_len(n as u64) };
    w.reserve(head + n);
    // SAFETY: `head + n` bytes of spare capacity were reserved: `head` for the length and `n`
    // for the bytes, which cannot overlap the output.
    unsafe {
        let len = w.len();
        let dst = w.as_mut_ptr().add(len);
        if n < 0x80 {
            dst.write(n as u8);
        } else {
            write_varint_u64(dst, n as u64);
        }
        copy_bytes(bytes.as_ptr(), dst.add(head), n);
        w.set_len(len + head + n);
    }
}

/// Copies `n` bytes from `src` to `dst`. Short copies (the common case for names, keys and
/// other short strings) are a few overlapping word moves instead of a call to `memcpy`.
///
/// # Safety
///
/// `src` must be valid for reads and `dst` for writes of `n` bytes, and they must not overlap.
#[inline(always)]
pub(crate) unsafe fn copy_bytes(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY: every access below lies inside `src[..n]` / `dst[..n]` (caller); the unaligned
    // word moves read and write whole words that start at or after 0 and end at or before `n`.
    unsafe {
        if n > 32 {
            std::ptr::copy_nonoverlapping(src, dst, n);
        } else if n >= 16 {
            let head = src.cast::<u128>().read_unaligned();
            let tail = src.add(n - 16).cast::<u128>().read_unaligned();
            dst.cast::<u128>().write_unaligned(head);
            dst.add(n - 16).cast::<u128>().write_unaligned(tail);
        } else if n >= 8 {
            let head = src.cast::<u64>().read_unaligned();
            let tail = src.add(n - 8).cast::<u64>().read_unaligned();
            dst.cast::<u64>().write_unaligned(head);
            dst.add(n - 8).cast::<u64>().write_unaligned(tail);
        } else if n >= 4 {
            let head = src.cast::<u32>().read_unaligned();
            let tail = src.add(n - 4).cast::<u32>().read_unaligned();
            dst.cast::<u32>().write_unaligned(head);
            dst.add(n - 4).cast::<u32>().write_unaligned(tail);
        } else if n > 0 {
            // 1 to 3 bytes: the first, the middle and the last (some of them the same).
            let a = src.read();
            let b = src.add(n / 2).read();
            let c = src.add(n - 1).read();
            dst.write(a);
            dst.add(n / 2).write(b);
            dst.add(n - 1).write(c);
        }
    }
}

/// `bytes` as a `str` if they are UTF-8. ASCII text (the common case for names, keys,
/// identifiers and messages) is recognised with word loads, 16 bytes at a time; from the first
/// non-ASCII byte on, the standard library's validator takes over.
#[inline(always)]
pub(crate) fn utf8(bytes: &[u8]) -> Option<&str> {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let n = bytes.len();
    let p = bytes.as_ptr();
    // SAFETY: every load below lies inside `bytes`: word loads start at or after 0 and end at
    // or before `n`.
    let ascii_prefix = unsafe {
        let word = |at: usize| p.add(at).cast::<u64>().read_unaligned();
        if n <= 32 {
            let ascii = if n >= 16 {
                (word(0) | word(8) | word(n - 16) | word(n - 8)) & HIGH == 0
            } else if n >= 8 {
                (word(0) | word(n - 8)) & HIGH == 0
            } else if n >= 4 {
                let head = p.cast::<u32>().read_unaligned();
                let tail = p.add(n - 4).cast::<u32>().read_unaligned();
                (head | tail) & 0x8080_8080 == 0
            } else if n > 0 {
                (p.read() | p.add(n / 2).read() | p.add(n - 1).read()) & 0x80 == 0
            } else {
                true
            };
            if ascii { n } else { 0 }
        } else {
            long_ascii_prefix(bytes)
        }
    };
    if ascii_prefix == n {
        // SAFETY: every byte is below 0x80, so the bytes are ASCII and hence UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    // The prefix is ASCII, so the rest starts on a character boundary and the whole is UTF-8
    // exactly when the rest is.
    std::str::from_utf8(&bytes[ascii_prefix..]).ok()?;
    // SAFETY: checked just above.
    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// How many bytes at the start of `bytes` (longer than 32) are known to be ASCII: all of them,
/// or a multiple of 16 that ends before the first non-ASCII byte.
#[inline(never)]
fn long_ascii_prefix(bytes: &[u8]) -> usize {
    const HIGH: u128 = 0x8080_8080_8080_8080_8080_8080_8080_8080;
    let n = bytes.len();
    debug_assert!(n > 32);
    // SAFETY: every 16-byte load starts at or after 0 and ends at or before `n`.
    let wide = |at: usize| unsafe { bytes.as_ptr().add(at).cast::<u128>().read_unaligned() };
    let mut i = 0;
    while i + 16 <= n && wide(i) & HIGH == 0 {
        i += 16;
    }
    // All whole chunks were ASCII: the last (overlapping) 16 bytes decide the rest.
    if i + 16 > n && wide(n - 16) & HIGH == 0 {
        n
    } else {
        i
    }
}

/// An owned copy of `s`, allocated once.
#[inline(always)]
pub(crate) fn owned_string(s: &str) -> String {
    let n = s.len();
    let mut v = Vec::<u8>::with_capacity(n);
    // SAFETY: the vector has room for `n` bytes and cannot overlap `s`; once copied they are
    // initialised, and they are UTF-8 because `s` is.
    unsafe {
        copy_bytes(s.as_ptr(), v.as_mut_ptr(), n);
        v.set_len(n);
        String::from_utf8_unchecked(v)
    }
}

#[inline(always)]
pub(crate) fn put_varint_usize(w: &mut Vec<u8>, v: usize) {
    put_varint_u64(w, v as u64);
}

fn put_varint_u128(w: &mut Vec<u8>, mut v: u128) {
    let mut buf = [0u8; 19];
    let mut n = 0;
    while v >= 0x80 {
        buf[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    buf[n] = v as u8;
    w.extend_from_slice(&buf[..=n]);
}

/// A scalar with a fixed postcard encoding, implemented for each Rust scalar type.
pub(crate) trait WirePrim: Copy + 'static {
    /// The fewest bytes a value takes on the wire.
    const MIN_WIRE: usize;
    /// The wire bytes of a value are its in-memory bytes on this target, and every bit pattern
    /// is a valid value, so a slice of them can be copied in or out with one `memcpy`.
    const RAW: bool;
    /// Reading a value is small enough to inline into fast loops.
    const INLINE: bool = true;
    /// Appends the encoding of `self`.
    fn put(self, w: &mut Vec<u8>);
    /// Reads one value.
    fn get(r: &mut Reader<'_>) -> Result<Self, ReadFail>;
}

impl WirePrim for bool {
    const MIN_WIRE: usize = 1;
    const RAW: bool = false;
    #[inline(always)]
    fn put(self, w: &mut Vec<u8>) {
        w.push(self as u8);
    }
    #[inline(always)]
    fn get(r: &mut Reader<'_>) -> Result<Self, ReadFail> {
        match r.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(ReadFail::Bool(b)),
        }
    }
}

impl WirePrim for u8 {
    const MIN_WIRE: usize = 1;
    const RAW: bool = true;
    #[inline(always)]
    fn put(self, w: &mut Vec<u8>) {
        w.push(self);
    }
    #[inline(always)]
    fn get(r: &mut Reader<'_>) -> Result<Self, ReadFail> {
        r.byte()
    }
}

impl WirePrim for i8 {
    const MIN_WIRE: usize = 1;
    const RAW: bool = true;
    #[inline(always)]
    fn put(self, w: &mut Vec<u8>) {
        w.push(self as u8);
    }
    #[inline(always)]
    fn get(r: &mut Reader<'_>) -> Result<Self, ReadFail> {
        r.byte().map(|b| b as i8)
    }
}

macro_rules! varint_unsigned {
    ($($t:ty => $get:ident),*) => {$(
        impl WirePrim for $t {
            const MIN_WIRE: usize = 1;
            const RAW: bool = false;
            #[inline(always)]
            fn put(self, w: &mut Vec<u8>) {
                put_varint_u64(w, self as u64);
            }
            #[inline(always)]
            fn get(r: &mut Reader<'_>) -> Result<Self, ReadFail> {
                r.$get().map(|v| v as $t)
            }
        }
    )*};
}
varint_unsigned!(u16 => varint_u16, u32 => varint_u32, u64 => varint_u64, usize => varint_usize);

macro_rules! varint_signed {
    ($($t:ty, $u:ty, $bits:expr => $get:ident),*) => {$(
        impl WirePrim for $t {
            const MIN_WIRE: usize = 1;
            const RAW: bool = false;
            #[inline(always)]
            fn put(self, w: &mut Vec<u8>) {
                let zigzag = ((self << 1) ^ (self >> ($bits - 1))) as $u;
                put_varint_u64(w, zigzag as u64);
            }
            #[inline(always)]
            fn get(r: &mut Reader<'_>) -> Result<Self, ReadFail> {
                let u = r.$get()? as $u;
                Ok(((u >> 1) as $t) ^ -((u & 1) as $t))
            }
        }
    )*};
}
varint_signed!(
    i16, u16, 16 => varint_u16,
    i32, u32, 32 => varint_u32,
    i64, u64, 64 => varint_u64,
    isize, usize, usize::BITS => varint_usize
);

impl WirePrim for u128 {
    const MIN_WIRE: usize = 1;
    const INLINE: bool = false;
    const RAW: bool = false;
    #[inline(always)]
    fn put(self, w: &mut Vec<u8>) {
        put_varint_u128(w, self);
    }
    #[inline(always)]
    fn get(r: &mut Reader<'_>) -> Result<Self, ReadFail> {
        r.varint_u128()
    }
}

impl WirePrim for i128 {
    const MIN_WIRE: usize = 1;
    const INLINE: bool = false;
    const RAW: bool = false;
    #[inline(always)]
    fn put(self, w: &mut Vec<u8>) {
        put_varint_u128(w, ((self << 1) ^ (self >> 127)) as u128);
    }
    #[inline(always)]
    fn get(r: &mut Reader<'_>) -> Result<Self, ReadFail> {
        let u = r.varint_u128()?;
        Ok(((u >> 1) as i128) ^ -((u & 1) as i128))
    }
}

macro_rules! float {
    ($($t:ty, $n:expr),*) => {$(
        impl WirePrim for $t {
            const MIN_WIRE: usize = $n;
            const RAW: bool = cfg!(target_endian = "little");
            #[inline(always)]
            fn put(self, w: &mut Vec<u8>) {
                w.extend_from_slice(&self.to_le_bytes());
            }
            #[inline(always)]
            fn get(r: &mut Reader<'_>) -> Result<Self, ReadFail> {
                r.array::<$n>().map(<$t>::from_le_bytes)
            }
        }
    )*};
}
float!(f32, 4, f64, 8);

impl WirePrim for char {
    const MIN_WIRE: usize = 2;
    const INLINE: bool = false;
    const RAW: bool = false;
    #[inline(always)]
    fn put(self, w: &mut Vec<u8>) {
        let mut buf = [0u8; 4];
        let s = self.encode_utf8(&mut buf);
        w.push(s.len() as u8);
        w.extend_from_slice(s.as_bytes());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, ReadFail> {
        let len = r.varint_usize()?;
        if !(1..=4).contains(&len) {
            return Err(ReadFail::Char);
        }
        let bytes = r.take(len)?;
        let s = core::str::from_utf8(bytes).map_err(|_| ReadFail::Char)?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(c),
            _ => Err(ReadFail::Char),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc<T: WirePrim>(v: T) -> Vec<u8> {
        let mut w = Vec::new();
        v.put(&mut w);
        w
    }

    fn dec<T: WirePrim>(bytes: &[u8]) -> Result<T, ReadFail> {
        let mut r = Reader::new(bytes);
        let v = T::get(&mut r)?;
        assert_eq!(r.pos, bytes.len(), "all bytes consumed");
        Ok(v)
    }

    #[test]
    fn varints_match_postcard() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            assert_eq!(enc(v), postcard::to_allocvec(&v).unwrap(), "{v}");
            assert_eq!(dec::<u64>(&enc(v)), Ok(v));
        }
        for v in [0i32, -1, 1, -64, 64, i32::MIN, i32::MAX] {
            assert_eq!(enc(v), postcard::to_allocvec(&v).unwrap(), "{v}");
            assert_eq!(dec::<i32>(&enc(v)), Ok(v));
        }
        for v in [0u128, 1 << 100, u128::MAX] {
            assert_eq!(enc(v), postcard::to_allocvec(&v).unwrap());
            assert_eq!(dec::<u128>(&enc(v)), Ok(v));
        }
        for v in [i128::MIN, -5, i128::MAX] {
            assert_eq!(enc(v), postcard::to_allocvec(&v).unwrap());
            assert_eq!(dec::<i128>(&enc(v)), Ok(v));
        }
        for v in [i16::MIN, i16::MAX, 0] {
            assert_eq!(enc(v), postcard::to_allocvec(&v).unwrap());
            assert_eq!(dec::<i16>(&enc(v)), Ok(v));
        }
    }

    #[test]
    fn varint_limits_match_postcard() {
        // u16: at most 3 bytes, last byte at most 0b11.
        assert_eq!(dec::<u16>(&[0xff, 0xff, 0x03]), Ok(u16::MAX));
        assert_eq!(dec::<u16>(&[0xff, 0xff, 0x04]), Err(ReadFail::Varint));
        assert_eq!(dec::<u16>(&[0x80, 0x80, 0x80, 0x00]), Err(ReadFail::Varint));
        // u32: 5 bytes, last at most 0x0f.
        assert_eq!(
            dec::<u32>(&[0xff, 0xff, 0xff, 0xff, 0x10]),
            Err(ReadFail::Varint)
        );
        assert!(postcard::from_bytes::<u32>(&[0xff, 0xff, 0xff, 0xff, 0x10]).is_err());
        // Non-minimal encodings are accepted, as postcard does.
        assert_eq!(dec::<u32>(&[0x80, 0x00]), Ok(0));
        assert_eq!(postcard::from_bytes::<u32>(&[0x80, 0x00]).unwrap(), 0);
        assert_eq!(dec::<u64>(&[0x80]), Err(ReadFail::End));
    }

    #[test]
    fn utf8_agrees_with_the_standard_library() {
        // Every length up to 80, with a non-ASCII character, a lone continuation byte or a
        // truncated sequence at every position.
        for n in 0..80usize {
            let ascii = vec![b'a'; n];
            assert_eq!(utf8(&ascii), std::str::from_utf8(&ascii).ok());
            for at in 0..n {
                let mut valid = ascii.clone();
                valid.splice(at..at, "é€🦀".bytes());
                assert_eq!(utf8(&valid), std::str::from_utf8(&valid).ok(), "{n} {at}");
                for bad in [0x80u8, 0xc3, 0xe2, 0xf0, 0xff] {
                    let mut invalid = ascii.clone();
                    invalid[at] = bad;
                    assert_eq!(utf8(&invalid), None, "{n} {at} {bad:#x}");
                }
            }
        }
    }

    #[test]
    fn short_copies_copy_exactly() {
        let src: Vec<u8> = (0..64).collect();
        for n in 0..=64 {
            let mut dst = vec![0xeeu8; 66];
            // SAFETY: `src` has 64 bytes and `dst[1..]` 65; they do not overlap.
            unsafe { copy_bytes(src.as_ptr(), dst.as_mut_ptr().add(1), n) };
            assert_eq!(dst[0], 0xee);
            assert_eq!(&dst[1..=n], &src[..n]);
            assert!(dst[n + 1..].iter().all(|&b| b == 0xee), "{n}");
        }
    }

    #[test]
    fn length_prefixes_match_postcard() {
        for n in [0usize, 1, 127, 128, 300, 16_384] {
            let bytes = vec![b'x'; n];
            let mut w = vec![9u8];
            put_len_prefixed(&mut w, &bytes);
            let mut expected = vec![9u8];
            expected.extend(postcard::to_allocvec(&bytes).unwrap());
            assert_eq!(w, expected, "{n}");
        }
        for v in [0u64, 127, 128, 1 << 35, u64::MAX] {
            assert_eq!(varint_len(v), postcard::to_allocvec(&v).unwrap().len());
        }
    }

    #[test]
    fn floats_bools_and_chars() {
        assert_eq!(enc(1.5f64), postcard::to_allocvec(&1.5f64).unwrap());
        assert_eq!(dec::<f32>(&enc(-0.25f32)), Ok(-0.25));
        assert_eq!(dec::<bool>(&[2]), Err(ReadFail::Bool(2)));
        for c in ['a', 'é', '€', '🦀'] {
            assert_eq!(enc(c), postcard::to_allocvec(&c).unwrap());
            assert_eq!(dec::<char>(&enc(c)), Ok(c));
        }
        assert_eq!(dec::<char>(&[2, b'a', b'b']), Err(ReadFail::Char));
        assert_eq!(dec::<char>(&[0]), Err(ReadFail::Char));
        assert_eq!(dec::<char>(&[5, 1, 2, 3, 4, 5]), Err(ReadFail::Char));
        assert_eq!(dec::<char>(&[1, 0xff]), Err(ReadFail::Char));
        assert_eq!(dec::<char>(&[3, 0xe2, 0x82]), Err(ReadFail::End));
    }
}
