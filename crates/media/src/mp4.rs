//! ISO-BMFF (MP4) upload validation by walking the box tree.
//!
//! Only the boxes the platform needs are read: `ftyp`, `moov/mvhd`, `moov/mvex/mehd`,
//! `moov/trak/{tkhd, mdia/{hdlr, mdhd, minf/stbl/stsd}}` and the presence of `mdat`. The walk
//! follows a fixed set of paths (no generic recursion), every read is bounds-checked, and all
//! arithmetic is checked, so hostile input can only produce an error, never a panic.

use crate::MediaError;

/// What an accepted upload looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp4Info {
    /// Presentation duration in milliseconds (rounded down).
    pub duration_ms: u64,
    /// Display width in pixels of the first video track (after a 90/270 degree rotation in the
    /// track matrix, as phones record portrait video).
    pub width: u32,
    /// Display height in pixels, see `width`.
    pub height: u32,
    /// Whether there is at least one sound track.
    pub has_audio: bool,
}

/// Brands (major or compatible) that mark a file browsers can play as MP4. QuickTime (`qt  `)
/// is deliberately absent: its files often hold codecs browsers do not decode.
const KNOWN_BRANDS: &[&[u8; 4]] = &[
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9", b"mp41",
    b"mp42", b"mp71", b"avc1", b"av01", b"M4V ", b"M4VH", b"M4VP", b"dash", b"msdh", b"msix",
    b"cmfc", b"cmf2", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"f4v ", b"MSNV",
];

/// Validates an ISO-BMFF/MP4 upload by walking its boxes; the file name and `Content-Type`
/// are never consulted. `ftyp` must be the first box with a known major or compatible brand,
/// there must be a `moov` with `mvhd` (duration/timescale -> `duration_ms`, versions 0 and 1),
/// at least one `trak` whose `hdlr` type is `vide` (width/height from its `tkhd`, 16.16 fixed
/// point), and an `mdat`. Box sizes must be consistent (size 0 = to end, size 1 = 64-bit
/// largesize). Every failure is [`MediaError::InvalidMedia`] with a message for the uploader.
pub fn validate_mp4(bytes: &[u8]) -> Result<Mp4Info, MediaError> {
    if bytes.is_empty() {
        return Err(invalid("the file is empty"));
    }
    let top = boxes(bytes, "the file")?;
    let first = top
        .first()
        .ok_or_else(|| invalid("the file is too short to be an MP4 video"))?;
    if &first.kind != b"ftyp" {
        return Err(invalid(
            "this is not an MP4 video: it does not start with an 'ftyp' box",
        ));
    }
    check_brands(first.body)?;

    let mut moov = None;
    let mut has_mdat = false;
    for b in &top[1..] {
        match &b.kind {
            b"moov" => {
                if moov.is_some() {
                    return Err(invalid("the MP4 file has more than one 'moov' box"));
                }
                moov = Some(b.body);
            }
            b"mdat" => has_mdat = true,
            b"ftyp" => return Err(invalid("the MP4 file has more than one 'ftyp' box")),
            _ => {}
        }
    }
    let moov = moov.ok_or_else(|| {
        invalid("the MP4 file has no 'moov' box (movie header); it may be incomplete")
    })?;
    if !has_mdat {
        return Err(invalid(
            "the MP4 file has no 'mdat' box, so it contains no media data",
        ));
    }
    read_moov(moov)
}

fn invalid(msg: &str) -> MediaError {
    MediaError::InvalidMedia(msg.to_owned())
}

/// One box: its four-character type and its body (after the header).
struct Bx<'a> {
    kind: [u8; 4],
    body: &'a [u8],
}

/// Splits `data` into consecutive boxes; `what` names the container in error messages.
fn boxes<'a>(data: &'a [u8], what: &str) -> Result<Vec<Bx<'a>>, MediaError> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < 8 {
            return Err(MediaError::InvalidMedia(format!(
                "{what} ends in the middle of a box header (the file looks truncated)"
            )));
        }
        let size32 = be_u32(rest, 0).unwrap_or_default();
        let kind: [u8; 4] = [rest[4], rest[5], rest[6], rest[7]];
        let (header, size) = match size32 {
            0 => (8usize, rest.len() as u64),
            1 => {
                let large = be_u64(rest, 8).ok_or_else(|| {
                    MediaError::InvalidMedia(format!(
                        "box '{}' in {what} is cut off in its 64-bit size (the file looks truncated)",
                        fourcc(&kind)
                    ))
                })?;
                (16usize, large)
            }
            n => (8usize, u64::from(n)),
        };
        if size < header as u64 {
            return Err(MediaError::InvalidMedia(format!(
                "box '{}' in {what} has an impossible size of {size} bytes (the file is corrupt)",
                fourcc(&kind)
            )));
        }
        if size > rest.len() as u64 {
            return Err(MediaError::InvalidMedia(format!(
                "box '{}' in {what} claims {size} bytes but only {} remain (the file looks truncated)",
                fourcc(&kind),
                rest.len()
            )));
        }
        // `size <= rest.len()`, so it fits in usize.
        let size = size as usize;
        let body = rest.get(header..size).unwrap_or_default();
        out.push(Bx { kind, body });
        rest = rest.get(size..).unwrap_or_default();
    }
    Ok(out)
}

fn check_brands(ftyp: &[u8]) -> Result<(), MediaError> {
    if ftyp.len() < 8 {
        return Err(invalid("the MP4 'ftyp' box is too short"));
    }
    // major_brand, minor_version, then compatible brands until the end of the box.
    let major = [ftyp[0], ftyp[1], ftyp[2], ftyp[3]];
    let known = |b: &[u8]| KNOWN_BRANDS.iter().any(|k| k.as_slice() == b);
    if known(&major) || ftyp[8..].chunks_exact(4).any(known) {
        return Ok(());
    }
    Err(MediaError::InvalidMedia(format!(
        "unsupported file type '{}': upload an MP4 video (H.264 or AV1)",
        fourcc(&major)
    )))
}

/// What one `trak` told us.
struct Track {
    handler: [u8; 4],
    width: u32,
    height: u32,
    /// Track duration in seconds * 1000, from `mdhd`, when known.
    mdhd_ms: Option<u64>,
}

fn read_moov(moov: &[u8]) -> Result<Mp4Info, MediaError> {
    let children = boxes(moov, "the 'moov' box")?;
    let mut mvhd_ms = None;
    let mut seen_mvhd = false;
    let mut mehd_duration = None;
    let mut timescale = 0u32;
    let mut tracks = Vec::new();
    for b in &children {
        match &b.kind {
            b"mvhd" => {
                let (ts, duration) = read_mvhd(b.body)?;
                seen_mvhd = true;
                timescale = ts;
                mvhd_ms = duration.map(|d| to_ms(d, ts));
            }
            b"mvex" => {
                for m in boxes(b.body, "the 'mvex' box")? {
                    if &m.kind == b"mehd" {
                        mehd_duration = read_mehd(m.body);
                    }
                }
            }
            b"trak" => tracks.push(read_trak(b.body)?),
            _ => {}
        }
    }
    if !seen_mvhd {
        return Err(invalid("the MP4 file has no movie header ('mvhd' box)"));
    }
    let video = tracks
        .iter()
        .find(|t| &t.handler == b"vide")
        .ok_or_else(|| {
            invalid("the MP4 file has no video track (audio-only files are not accepted)")
        })?;
    if video.width == 0 || video.height == 0 {
        return Err(invalid("the video track has no picture size"));
    }
    // Fragmented MP4s often leave the movie duration at 0 and put it in `mehd`; as a last
    // resort, take the longest track.
    let duration_ms = mvhd_ms
        .filter(|&ms| ms > 0)
        .or_else(|| {
            mehd_duration
                .map(|d| to_ms(d, timescale))
                .filter(|&ms| ms > 0)
        })
        .or_else(|| tracks.iter().filter_map(|t| t.mdhd_ms).max())
        .unwrap_or(0);
    if duration_ms == 0 {
        return Err(invalid("the video has a length of zero"));
    }
    Ok(Mp4Info {
        duration_ms,
        width: video.width,
        height: video.height,
        has_audio: tracks.iter().any(|t| &t.handler == b"soun"),
    })
}

/// `(timescale, duration)`; the duration is `None` when marked unknown (all ones).
fn read_mvhd(b: &[u8]) -> Result<(u32, Option<u64>), MediaError> {
    let short = || invalid("the MP4 movie header ('mvhd') is too short");
    let version = *b.first().ok_or_else(short)?;
    let (timescale, duration) = match version {
        0 => {
            let d = be_u32(b, 16).ok_or_else(short)?;
            (
                be_u32(b, 12).ok_or_else(short)?,
                (d != u32::MAX).then_some(u64::from(d)),
            )
        }
        1 => {
            let d = be_u64(b, 24).ok_or_else(short)?;
            (
                be_u32(b, 20).ok_or_else(short)?,
                (d != u64::MAX).then_some(d),
            )
        }
        v => {
            return Err(MediaError::InvalidMedia(format!(
                "the MP4 movie header has unknown version {v}"
            )));
        }
    };
    if timescale == 0 {
        return Err(invalid("the MP4 movie header has a timescale of zero"));
    }
    Ok((timescale, duration))
}

fn read_mehd(b: &[u8]) -> Option<u64> {
    match b.first()? {
        0 => be_u32(b, 4).map(u64::from),
        1 => be_u64(b, 4),
        _ => None,
    }
}

fn read_trak(trak: &[u8]) -> Result<Track, MediaError> {
    let mut track = Track {
        handler: *b"\0\0\0\0",
        width: 0,
        height: 0,
        mdhd_ms: None,
    };
    let mut sample_size = None;
    for b in boxes(trak, "a 'trak' box")? {
        match &b.kind {
            b"tkhd" => {
                let (w, h) = read_tkhd(b.body)?;
                track.width = w;
                track.height = h;
            }
            b"mdia" => {
                for m in boxes(b.body, "an 'mdia' box")? {
                    match &m.kind {
                        // hdlr: version/flags (4), pre_defined (4), handler_type (4).
                        b"hdlr" => {
                            let h = m.body.get(8..12).ok_or_else(|| {
                                invalid("the MP4 track handler ('hdlr') is too short")
                            })?;
                            track.handler = [h[0], h[1], h[2], h[3]];
                        }
                        b"mdhd" => track.mdhd_ms = read_mdhd(m.body),
                        b"minf" => sample_size = read_minf_sample_size(m.body)?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    // Some muxers leave the track header size at zero; the sample entry (e.g. `avc1`) still
    // has the coded size.
    if (track.width == 0 || track.height == 0)
        && let Some((w, h)) = sample_size
    {
        track.width = w;
        track.height = h;
    }
    Ok(track)
}

/// Display `(width, height)` from a `tkhd`, swapped when the matrix rotates by 90 or 270
/// degrees.
fn read_tkhd(b: &[u8]) -> Result<(u32, u32), MediaError> {
    let short = || invalid("the MP4 track header ('tkhd') is too short");
    // After version/flags: v0 has 4+4+4+4+4 bytes of times/ids, v1 has 8+8+4+4+8.
    let after_times = match *b.first().ok_or_else(short)? {
        0 => 4 + 20,
        1 => 4 + 32,
        v => {
            return Err(MediaError::InvalidMedia(format!(
                "the MP4 track header has unknown version {v}"
            )));
        }
    };
    // reserved (8), layer (2), alternate_group (2), volume (2), reserved (2), matrix (36).
    let matrix = after_times + 16;
    let width = be_u32(b, matrix + 36).ok_or_else(short)? >> 16;
    let height = be_u32(b, matrix + 40).ok_or_else(short)? >> 16;
    let a = be_u32(b, matrix).ok_or_else(short)?;
    let bm = be_u32(b, matrix + 4).ok_or_else(short)?;
    let c = be_u32(b, matrix + 12).ok_or_else(short)?;
    let d = be_u32(b, matrix + 16).ok_or_else(short)?;
    let rotated = a == 0 && d == 0 && bm != 0 && c != 0;
    Ok(if rotated {
        (height, width)
    } else {
        (width, height)
    })
}

fn read_mdhd(b: &[u8]) -> Option<u64> {
    let (timescale, duration) = match b.first()? {
        0 => (be_u32(b, 12)?, u64::from(be_u32(b, 16)?)),
        1 => (be_u32(b, 20)?, be_u64(b, 24)?),
        _ => return None,
    };
    (timescale != 0 && duration != u64::from(u32::MAX) && duration != u64::MAX)
        .then(|| to_ms(duration, timescale))
}

/// The coded size in the first visual sample entry of `minf/stbl/stsd`, if any.
fn read_minf_sample_size(minf: &[u8]) -> Result<Option<(u32, u32)>, MediaError> {
    for m in boxes(minf, "an 'minf' box")? {
        if &m.kind != b"stbl" {
            continue;
        }
        for s in boxes(m.body, "an 'stbl' box")? {
            if &s.kind != b"stsd" {
                continue;
            }
            // stsd: version/flags (4), entry_count (4), then sample entries as boxes. A
            // visual sample entry has 6 reserved + 2 index + 16 pre-defined bytes, then
            // width (2) and height (2).
            let Some(entries) = s.body.get(8..) else {
                return Ok(None);
            };
            let entries = boxes(entries, "an 'stsd' box")?;
            let Some(first) = entries.first() else {
                return Ok(None);
            };
            let w = be_u16(first.body, 24);
            let h = be_u16(first.body, 26);
            return Ok(w.zip(h).map(|(w, h)| (u32::from(w), u32::from(h))));
        }
    }
    Ok(None)
}

fn to_ms(duration: u64, timescale: u32) -> u64 {
    if timescale == 0 {
        return 0;
    }
    let ms = u128::from(duration) * 1000 / u128::from(timescale);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// `None` when out of bounds; callers turn it into a message naming the box.
fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_be_bytes(a))
}

/// A four-character code for messages: printable ASCII as is, anything else in hex.
fn fourcc(k: &[u8; 4]) -> String {
    if k.iter().all(|c| (0x20..0x7f).contains(c)) {
        k.iter().map(|&c| char::from(c)).collect()
    } else {
        format!("0x{:02x}{:02x}{:02x}{:02x}", k[0], k[1], k[2], k[3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn ftyp(major: &[u8; 4], compat: &[&[u8; 4]]) -> Vec<u8> {
        let mut body = major.to_vec();
        body.extend_from_slice(&0u32.to_be_bytes());
        for c in compat {
            body.extend_from_slice(*c);
        }
        bx(b"ftyp", &body)
    }

    fn mvhd_v0(timescale: u32, duration: u32) -> Vec<u8> {
        let mut b = vec![0u8; 4 + 8];
        b.extend_from_slice(&timescale.to_be_bytes());
        b.extend_from_slice(&duration.to_be_bytes());
        b.extend_from_slice(&[0u8; 80]);
        bx(b"mvhd", &b)
    }

    fn mvhd_v1(timescale: u32, duration: u64) -> Vec<u8> {
        let mut b = vec![1u8, 0, 0, 0];
        b.extend_from_slice(&[0u8; 16]);
        b.extend_from_slice(&timescale.to_be_bytes());
        b.extend_from_slice(&duration.to_be_bytes());
        b.extend_from_slice(&[0u8; 80]);
        bx(b"mvhd", &b)
    }

    fn tkhd_v0(w: u32, h: u32, rotate90: bool) -> Vec<u8> {
        let mut b = vec![0u8; 4 + 20 + 16];
        let one = 0x0001_0000u32;
        let m: [u32; 9] = if rotate90 {
            [0, one, 0, one.wrapping_neg(), 0, 0, 0, 0, 0x4000_0000]
        } else {
            [one, 0, 0, 0, one, 0, 0, 0, 0x4000_0000]
        };
        for x in m {
            b.extend_from_slice(&x.to_be_bytes());
        }
        b.extend_from_slice(&(w << 16).to_be_bytes());
        b.extend_from_slice(&(h << 16).to_be_bytes());
        bx(b"tkhd", &b)
    }

    fn trak(handler: &[u8; 4], w: u32, h: u32, rotate90: bool) -> Vec<u8> {
        let mut hdlr = vec![0u8; 8];
        hdlr.extend_from_slice(handler);
        hdlr.extend_from_slice(&[0u8; 13]);
        let mdia = bx(b"mdia", &bx(b"hdlr", &hdlr));
        let mut body = tkhd_v0(w, h, rotate90);
        body.extend_from_slice(&mdia);
        bx(b"trak", &body)
    }

    fn file(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    fn demo_clip() -> &'static [u8] {
        crate::demo::clips()[0].video
    }

    fn err(bytes: &[u8]) -> String {
        match validate_mp4(bytes) {
            Err(MediaError::InvalidMedia(m)) => m,
            other => panic!("expected InvalidMedia, got {other:?}"),
        }
    }

    #[test]
    fn synthetic_minimal_file() {
        let moov = bx(
            b"moov",
            &[
                mvhd_v0(1000, 4500),
                trak(b"vide", 360, 640, false),
                trak(b"soun", 0, 0, false),
            ]
            .concat(),
        );
        let f = file(&[ftyp(b"isom", &[b"mp41"]), moov, bx(b"mdat", b"xx")]);
        let info = validate_mp4(&f).expect("valid");
        assert_eq!(
            info,
            Mp4Info {
                duration_ms: 4500,
                width: 360,
                height: 640,
                has_audio: true
            }
        );
    }

    #[test]
    fn version_1_mvhd_largesize_and_size_zero() {
        let moov = bx(
            b"moov",
            &[mvhd_v1(90_000, 900_000), trak(b"vide", 1920, 1080, true)].concat(),
        );
        // mdat with a 64-bit largesize, then a trailing box whose size 0 means "to the end".
        let mut mdat = 1u32.to_be_bytes().to_vec();
        mdat.extend_from_slice(b"mdat");
        mdat.extend_from_slice(&(16u64 + 3).to_be_bytes());
        mdat.extend_from_slice(b"abc");
        let mut tail = 0u32.to_be_bytes().to_vec();
        tail.extend_from_slice(b"free");
        tail.extend_from_slice(b"anything");
        let f = file(&[ftyp(b"mp42", &[]), moov, mdat, tail]);
        let info = validate_mp4(&f).expect("valid");
        // 10 s, portrait after the 90 degree rotation, no sound track.
        assert_eq!(info.duration_ms, 10_000);
        assert_eq!((info.width, info.height), (1080, 1920));
        assert!(!info.has_audio);
    }

    #[test]
    fn structural_errors_have_clear_messages() {
        let moov_ok = bx(
            b"moov",
            &[mvhd_v0(1000, 1000), trak(b"vide", 2, 2, false)].concat(),
        );
        let mdat = bx(b"mdat", b"");
        assert!(err(&file(&[moov_ok.clone(), mdat.clone()])).contains("ftyp"));
        assert!(err(&file(&[ftyp(b"isom", &[]), mdat.clone()])).contains("moov"));
        assert!(err(&file(&[ftyp(b"isom", &[]), moov_ok.clone()])).contains("mdat"));
        let audio_only = bx(
            b"moov",
            &[mvhd_v0(1000, 1000), trak(b"soun", 0, 0, false)].concat(),
        );
        assert!(err(&file(&[ftyp(b"isom", &[]), audio_only, mdat.clone()])).contains("video"));
        let no_mvhd = bx(b"moov", &trak(b"vide", 2, 2, false));
        assert!(err(&file(&[ftyp(b"isom", &[]), no_mvhd, mdat.clone()])).contains("mvhd"));
        let zero = bx(
            b"moov",
            &[mvhd_v0(1000, 0), trak(b"vide", 2, 2, false)].concat(),
        );
        assert!(err(&file(&[ftyp(b"isom", &[]), zero, mdat.clone()])).contains("zero"));
        // A box that claims to be smaller than its own header.
        let mut bad = ftyp(b"isom", &[]);
        bad.extend_from_slice(&[0, 0, 0, 4, b'm', b'd', b'a', b't']);
        assert!(err(&bad).contains("impossible size"));
        assert!(err(b"").contains("empty"));
    }

    #[test]
    fn unknown_brand_is_rejected() {
        let moov = bx(
            b"moov",
            &[mvhd_v0(1000, 1000), trak(b"vide", 2, 2, false)].concat(),
        );
        let f = file(&[ftyp(b"qt  ", &[b"zzzz"]), moov.clone(), bx(b"mdat", b"")]);
        assert!(err(&f).contains("unsupported file type 'qt  '"));
        // A known compatible brand is enough.
        let f = file(&[ftyp(b"zzzz", &[b"iso6"]), moov, bx(b"mdat", b"")]);
        assert!(validate_mp4(&f).is_ok());

        // The real demo clip with its brands overwritten.
        let mut clip = demo_clip().to_vec();
        let ftyp_len = u32::from_be_bytes([clip[0], clip[1], clip[2], clip[3]]) as usize;
        for i in (8..ftyp_len).step_by(4) {
            if i != 12 {
                clip[i..i + 4].copy_from_slice(b"xyzw");
            }
        }
        assert!(err(&clip).contains("xyzw"));
    }

    #[test]
    fn demo_clip_is_valid() {
        let info = validate_mp4(demo_clip()).expect("valid");
        assert_eq!((info.width, info.height), (360, 640));
        assert!(info.has_audio);
        assert!((4000..=8100).contains(&info.duration_ms), "{info:?}");
    }

    #[test]
    fn truncated_copies_are_rejected() {
        let clip = demo_clip();
        for cut in [
            1,
            7,
            8,
            20,
            31,
            32,
            100,
            1000,
            clip.len() / 2,
            clip.len() - 1,
        ] {
            let m = err(&clip[..cut]);
            assert!(!m.is_empty(), "cut at {cut}");
        }
        assert!(err(&clip[..clip.len() - 1]).contains("truncated"));
    }

    #[test]
    fn other_formats_are_rejected() {
        let png =
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
        assert!(validate_mp4(png).is_err());
        let text = b"Hello, this is definitely a video. Trust me.\n";
        assert!(validate_mp4(text).is_err());
        let poster = crate::demo::clips()[0].poster;
        assert!(validate_mp4(poster).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = validate_mp4(&data);
        }

        /// Mutations of a real file reach far deeper into the box tree than random bytes.
        #[test]
        fn never_panics_on_mutated_clip(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
            cut in any::<prop::sample::Index>(),
        ) {
            let clip = demo_clip();
            // Only the header area (ftyp + moov, thanks to +faststart) is interesting.
            let head = clip.len().min(8192);
            let mut data = clip[..head].to_vec();
            for (i, v) in edits {
                let at = i.index(data.len());
                data[at] = v;
            }
            let keep = cut.index(data.len() + 1);
            data.truncate(keep);
            let _ = validate_mp4(&data);
        }
    }
}
