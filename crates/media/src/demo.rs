//! The demo clips, embedded in the binary so a fresh demo has content without ffmpeg or network.
//!
//! The files live in `assets/demo/` and are made once by `scripts/gen-demo-media.sh`; this list
//! mirrors `assets/demo/clips.toml` (a unit test checks that they agree). Every clip is a
//! 360x640, 24 fps, H.264 + AAC MP4 with `+faststart`, 5-6 s long, under 120 KB, with a JPEG
//! poster of the same size.

/// One embedded demo clip with its metadata.
#[derive(Debug, Clone, Copy)]
pub struct DemoClip {
    /// File name of the video in `assets/demo/` (e.g. `sunset-drive.mp4`), unique.
    pub file: &'static str,
    pub title: &'static str,
    /// A natural-sounding caption, in `language`.
    pub caption: &'static str,
    /// 2-4 topics from one shared vocabulary (travel, music, cooking, dance, pets, art, science,
    /// sports, comedy, nature, tech, fashion), without `#`.
    pub hashtags: &'static [&'static str],
    /// ISO 639-1 code: mostly `en`, some `de`, `fr`, `es`, `ja`.
    pub language: &'static str,
    /// The MP4 bytes.
    pub video: &'static [u8],
    /// The JPEG poster bytes (360x640).
    pub poster: &'static [u8],
}

macro_rules! clip {
    ($file:literal, $poster:literal, $title:literal, $caption:literal, [$($tag:literal),* $(,)?], $lang:literal $(,)?) => {
        DemoClip {
            file: $file,
            title: $title,
            caption: $caption,
            hashtags: &[$($tag),*],
            language: $lang,
            video: include_bytes!(concat!("../../../assets/demo/", $file)),
            poster: include_bytes!(concat!("../../../assets/demo/", $poster)),
        }
    };
}

static CLIPS: &[DemoClip] = &[
    clip!(
        "sunset-drive.mp4",
        "sunset-drive.jpg",
        "Sunset Drive",
        "Golden hour on the coast road, windows down and the playlist up",
        ["travel", "music", "nature"],
        "en"
    ),
    clip!(
        "neon-loop.mp4",
        "neon-loop.jpg",
        "Neon Loop",
        "Stared at this loop for ten minutes and I regret nothing",
        ["tech", "art", "music"],
        "en"
    ),
    clip!(
        "fractal-dive.mp4",
        "fractal-dive.jpg",
        "Fractal Dive",
        "How deep does it go? Zooming into the Mandelbrot set",
        ["science", "art"],
        "en"
    ),
    clip!(
        "life-goes-on.mp4",
        "life-goes-on.jpg",
        "Life Goes On",
        "Conway's Game of Life, watching little worlds be born and fade",
        ["science", "tech"],
        "en"
    ),
    clip!(
        "rule-30.mp4",
        "rule-30.jpg",
        "Rule 30",
        "One line of code, endless chaos. Cellular automata are wild",
        ["science", "art", "tech"],
        "en"
    ),
    clip!(
        "plasma-dreams.mp4",
        "plasma-dreams.jpg",
        "Plasma Dreams",
        "Late night vibes, just colors breathing",
        ["art", "music"],
        "en"
    ),
    clip!(
        "ripple-lab.mp4",
        "ripple-lab.jpg",
        "Ripple Lab",
        "Drop a pebble in a digital pond and watch the waves",
        ["science", "nature"],
        "en"
    ),
    clip!(
        "triangle-theory.mp4",
        "triangle-theory.jpg",
        "Triangle Theory",
        "Sierpinski triangles all the way down, math is beautiful",
        ["science", "art"],
        "en"
    ),
    clip!(
        "spectrum.mp4",
        "spectrum.jpg",
        "Spectrum",
        "Every color at once. Which one is your favorite?",
        ["art", "fashion"],
        "en"
    ),
    clip!(
        "retro-broadcast.mp4",
        "retro-broadcast.jpg",
        "Retro Broadcast",
        "We interrupt this feed for an important announcement: nothing",
        ["comedy", "tech"],
        "en"
    ),
    clip!(
        "color-wheel.mp4",
        "color-wheel.jpg",
        "Color Wheel",
        "Spin the wheel, pick your outfit color for tomorrow",
        ["fashion", "art"],
        "en"
    ),
    clip!(
        "morning-fog.mp4",
        "morning-fog.jpg",
        "Morning Fog",
        "Woke up early for this view over the valley, worth it",
        ["nature", "travel"],
        "en"
    ),
    clip!(
        "light-trails.mp4",
        "light-trails.jpg",
        "Light Trails",
        "Long exposure feeling, city lights at midnight",
        ["tech", "art", "travel"],
        "en"
    ),
    clip!(
        "edge-of-chaos.mp4",
        "edge-of-chaos.jpg",
        "Edge of Chaos",
        "Fractals but make it neon sketch",
        ["science", "art"],
        "en"
    ),
    clip!(
        "candy-clouds.mp4",
        "candy-clouds.jpg",
        "Candy Clouds",
        "Pastel mood board for the spring collection",
        ["fashion", "art"],
        "en"
    ),
    clip!(
        "checkmate.mp4",
        "checkmate.jpg",
        "Checkmate",
        "Moving checkerboard, a tiny optical illusion for your feed",
        ["art", "comedy"],
        "en"
    ),
    clip!(
        "runway-stripes.mp4",
        "runway-stripes.jpg",
        "Runway Stripes",
        "Bold stripes are back this season, trust me",
        ["fashion", "dance"],
        "en"
    ),
    clip!(
        "beach-day.mp4",
        "beach-day.jpg",
        "Beach Day",
        "Sun, sea and absolutely no emails",
        ["travel", "nature"],
        "en"
    ),
    clip!(
        "petri-dish.mp4",
        "petri-dish.jpg",
        "Petri Dish",
        "Lab day: these cells have more social life than me",
        ["science", "comedy"],
        "en"
    ),
    clip!(
        "rule-110.mp4",
        "rule-110.jpg",
        "Rule 110",
        "Rule 110 is Turing complete. Your laptop, but as a pattern",
        ["tech", "science"],
        "en"
    ),
    clip!(
        "glitch-mode.mp4",
        "glitch-mode.jpg",
        "Glitch Mode",
        "When the Wi-Fi drops during the final boss",
        ["comedy", "tech"],
        "en"
    ),
    clip!(
        "bounce.mp4",
        "bounce.jpg",
        "Bounce",
        "Ball physics test, it never gets tired",
        ["sports", "comedy"],
        "en"
    ),
    clip!(
        "pulse.mp4",
        "pulse.jpg",
        "Pulse",
        "Feel the beat? Headphones on for this one",
        ["music", "dance"],
        "en"
    ),
    clip!(
        "hypno-spiral.mp4",
        "hypno-spiral.jpg",
        "Hypno Spiral",
        "Look closely... you are now following this account",
        ["comedy", "art"],
        "en"
    ),
    clip!(
        "disco-fever.mp4",
        "disco-fever.jpg",
        "Disco Fever",
        "Friday night, the floor is ours",
        ["dance", "music"],
        "en"
    ),
    clip!(
        "waldspaziergang.mp4",
        "waldspaziergang.jpg",
        "Waldspaziergang",
        "Sonntagmorgen im Wald, nur Vogelgezwitscher und frische Luft",
        ["nature", "travel"],
        "de"
    ),
    clip!(
        "slow-simmer.mp4",
        "slow-simmer.jpg",
        "Slow Simmer",
        "Sunday sauce, low heat, three hours. Patience is the secret ingredient",
        ["cooking", "art"],
        "en"
    ),
    clip!(
        "happy-paws.mp4",
        "happy-paws.jpg",
        "Happy Paws",
        "My dog when he hears the treat bag, every single time",
        ["pets", "comedy"],
        "en"
    ),
    clip!(
        "siesta-gatuna.mp4",
        "siesta-gatuna.jpg",
        "Siesta Gatuna",
        "Mi gata durmiendo la siesta al sol, el mejor plan del domingo",
        ["pets", "nature"],
        "es"
    ),
    clip!(
        "golazo.mp4",
        "golazo.jpg",
        "Golazo!",
        "¡Qué partido! El último minuto fue de infarto",
        ["sports", "comedy"],
        "es"
    ),
    clip!(
        "street-style.mp4",
        "street-style.jpg",
        "Street Style",
        "Monochrome fits only, downtown this afternoon",
        ["fashion", "travel"],
        "fr"
    ),
    clip!(
        "petit-dejeuner.mp4",
        "petit-dejeuner.jpg",
        "Petit-déjeuner",
        "Croissant, café crème et un peu de soleil sur la terrasse",
        ["cooking", "travel"],
        "fr"
    ),
    clip!(
        "tanzfieber.mp4",
        "tanzfieber.jpg",
        "Tanzfieber",
        "Neue Choreo, erster Versuch. Wer macht mit?",
        ["dance", "music"],
        "de"
    ),
    clip!(
        "robot-lab.mp4",
        "robot-lab.jpg",
        "Robot Lab",
        "Unser Roboterprojekt macht endlich, was es soll (meistens)",
        ["tech", "science"],
        "de"
    ),
    clip!(
        "sakura-breeze.mp4",
        "sakura-breeze.jpg",
        "Sakura Breeze",
        "春の風、桜の色。今日はゆっくり散歩",
        ["nature", "travel", "art"],
        "ja"
    ),
    clip!(
        "ramen-night.mp4",
        "ramen-night.jpg",
        "Ramen Night",
        "深夜のラーメン、最高のご褒美",
        ["cooking", "travel"],
        "ja"
    ),
];

/// All demo clips, in the order of `assets/demo/clips.toml`.
pub fn clips() -> &'static [DemoClip] {
    CLIPS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[derive(serde::Deserialize)]
    struct Manifest {
        clip: Vec<Entry>,
    }

    #[derive(serde::Deserialize)]
    struct Entry {
        file: String,
        poster: String,
        title: String,
        caption: String,
        hashtags: Vec<String>,
        language: String,
    }

    const VOCABULARY: &[&str] = &[
        "travel", "music", "cooking", "dance", "pets", "art", "science", "sports", "comedy",
        "nature", "tech", "fashion",
    ];

    #[test]
    fn manifest_and_embedded_list_agree() {
        let text = include_str!("../../../assets/demo/clips.toml");
        let manifest: Manifest = toml::from_str(text).expect("clips.toml parses");
        assert_eq!(manifest.clip.len(), clips().len());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/demo");
        for (m, c) in manifest.clip.iter().zip(clips()) {
            assert_eq!(m.file, c.file);
            assert_eq!(m.title, c.title, "{}", c.file);
            assert_eq!(m.caption, c.caption, "{}", c.file);
            assert_eq!(m.hashtags, c.hashtags, "{}", c.file);
            assert_eq!(m.language, c.language, "{}", c.file);
            // The embedded bytes are the files the manifest names (posters included).
            let video = std::fs::read(dir.join(&m.file)).expect("video file");
            let poster = std::fs::read(dir.join(&m.poster)).expect("poster file");
            assert!(video == c.video, "{}", c.file);
            assert!(poster == c.poster, "{}", m.poster);
        }
    }

    #[test]
    fn at_least_30_distinct_valid_clips() {
        let all = clips();
        assert!(all.len() >= 30, "only {} clips", all.len());
        let mut videos = HashSet::new();
        let mut posters = HashSet::new();
        let mut files = HashSet::new();
        for c in all {
            assert!(files.insert(c.file), "duplicate file {}", c.file);
            assert!(
                videos.insert(c.video),
                "{} has the same bytes as another clip",
                c.file
            );
            assert!(
                posters.insert(c.poster),
                "{} has the same poster as another clip",
                c.file
            );
            let info = crate::validate_mp4(c.video)
                .unwrap_or_else(|e| panic!("{} does not validate: {e}", c.file));
            assert_eq!((info.width, info.height), (360, 640), "{}", c.file);
            assert!(info.has_audio, "{}", c.file);
            assert!(
                (4000..=8100).contains(&info.duration_ms),
                "{}: {info:?}",
                c.file
            );
            assert!(c.video.len() <= 120 * 1024, "{} is too big", c.file);
            assert!(
                c.poster.starts_with(&[0xff, 0xd8, 0xff]),
                "{} poster is not a JPEG",
                c.file
            );
            assert!((2..=4).contains(&c.hashtags.len()), "{}", c.file);
            for t in c.hashtags {
                assert!(
                    VOCABULARY.contains(t),
                    "{}: hashtag {t} not in the vocabulary",
                    c.file
                );
            }
            assert!(
                ["en", "de", "fr", "es", "ja"].contains(&c.language),
                "{}",
                c.file
            );
            assert!(!c.title.is_empty() && !c.caption.is_empty(), "{}", c.file);
        }
    }
}
