//! A person's interest profile, rebuilt from their own behavior in their home cell on every
//! feed request (served from the cell's caches, which each new view, like or "not interested"
//! invalidates), so the next page reflects the last swipe.
//!
//! Two horizons: a long-term profile over the last few hundred views and all likes, and a
//! short-term one over the last [`SHORT_TERM`] views, weighted up. Signals per video: a like,
//! a completed view, a long watch, a quick skip; they credit or debit the video's hashtags and
//! creator. Nothing here leaves the home cell: the profile is derived data of the person.

use crate::candidates::CandidatePool;
use reelm_core::{UserId, VideoId};
use reelm_platform::Error;
use reelm_platform::Session;
use std::collections::{HashMap, HashSet};

/// Views counted as the short-term session interest.
pub const SHORT_TERM: usize = 10;
/// A view shorter than this that did not complete is a skip.
const SKIP_MS: i64 = 1_500;
/// A view at least this long is interest even when it did not complete.
const LONG_WATCH_MS: i64 = 3_000;

#[derive(Debug, Default)]
pub struct Interest {
    /// Hashtag → affinity (positive: wants more; negative: skips it).
    pub tags: HashMap<String, f64>,
    pub creators: HashMap<UserId, f64>,
    /// Videos viewed since `seen_since_ms` (not shown again while unseen ones remain).
    pub seen: HashSet<VideoId>,
    /// Followed creators.
    pub follows: HashSet<UserId>,
    /// Caption terms → affinity (content similarity beyond hashtags).
    pub terms: HashMap<String, f64>,
    /// Language → share of the person's engagement.
    pub languages: HashMap<String, f64>,
    /// The person's most recent positive engagements (completed or long views, likes),
    /// newest first, with a recency weight: the seeds of item-to-item candidates.
    pub positives: Vec<(VideoId, f64)>,
    /// Number of behavioral events the profile is built from.
    pub events: usize,
    /// (hashtag scale, creator scale), computed on first use once the profile is complete.
    scales: std::sync::OnceLock<(f64, f64)>,
    /// The caption-term scale, likewise.
    term_scale: std::sync::OnceLock<f64>,
}

impl Interest {
    /// Builds the profile of `viewer` against the videos of `pool` (signals about videos
    /// outside the pool carry no hashtags and count only for their creator when known).
    pub async fn build(
        viewer: &Session,
        pool: &CandidatePool,
        seen_since_ms: i64,
    ) -> Result<Interest, Error> {
        let home = &viewer.home;
        let views = home.recent_views(viewer.user).await?;
        let likes = home.likes(viewer.user).await?;
        let follows = home.followees(viewer.user).await?;
        let by_id: HashMap<VideoId, usize> = pool
            .iter()
            .enumerate()
            .map(|(i, (_, v))| (v.id, i))
            .collect();
        let mut me = Interest {
            follows: follows.iter().copied().collect(),
            ..Default::default()
        };
        let credit = |me: &mut Interest, video: VideoId, weight: f64| {
            if let Some(&i) = by_id.get(&video) {
                let v = &pool[i].1;
                for tag in v.hashtags.split_whitespace() {
                    *me.tags.entry(tag.to_owned()).or_default() += weight;
                }
                *me.creators.entry(v.creator_id).or_default() += weight * 0.7;
                for term in caption_terms(&v.caption) {
                    *me.terms.entry(term).or_default() += weight * 0.5;
                }
                if weight > 0.0 {
                    *me.languages.entry(v.language.clone()).or_default() += weight;
                }
            }
        };
        let mut positives: Vec<(VideoId, f64)> = Vec::new();
        let mut add_positive = |video: VideoId| {
            if positives.len() < MAX_POSITIVES && !positives.iter().any(|(v, _)| *v == video) {
                let rank = positives.len() as f64;
                positives.push((video, 1.0 / (1.0 + 0.15 * rank)));
            }
        };
        for (n, (video, watch_ms, completed, at)) in views.iter().enumerate() {
            let horizon = if n < SHORT_TERM { 2.0 } else { 1.0 };
            let signal = if *completed {
                1.5
            } else if *watch_ms >= LONG_WATCH_MS {
                0.5
            } else if *watch_ms < SKIP_MS {
                -0.7
            } else {
                0.0
            };
            credit(&mut me, *video, signal * horizon);
            if signal > 0.0 {
                add_positive(*video);
            }
            if *at >= seen_since_ms {
                me.seen.insert(*video);
            }
            me.events += 1;
        }
        // Liked videos are mostly among the viewed ones already; the order of the rest is
        // not known (likes carry no order here), so they come after.
        let mut liked: Vec<VideoId> = likes.iter().copied().collect();
        liked.sort_by_key(|v| std::cmp::Reverse(v.0));
        for video in liked {
            credit(&mut me, video, 3.0);
            add_positive(video);
            me.events += 1;
        }
        me.positives = positives;
        let total: f64 = me.languages.values().sum();
        if total > 0.0 {
            me.languages.values_mut().for_each(|w| *w /= total);
        }
        Ok(me)
    }

    /// Affinity of a video in [-1, 1] for its hashtags and creator, and the hashtag that
    /// contributed most (for the explanation).
    pub fn affinity(&self, hashtags: &str, creator: UserId) -> (f64, f64, Option<String>) {
        // The scales are computed once per profile: this runs for every candidate.
        let scales = *self
            .scales
            .get_or_init(|| (scale(&self.tags), scale(&self.creators)));
        scaled_affinity(&self.tags, &self.creators, scales, hashtags, creator)
    }
}

/// The newest positive engagements used as item-to-item seeds.
pub const MAX_POSITIVES: usize = 20;

impl Interest {
    /// Content similarity of a video to what the person engages with, in [-1, 1]: the mean
    /// affinity of its caption terms (scaled like hashtags) plus a bonus for a language the
    /// person watches; and the strongest term, for the explanation.
    pub fn content(&self, caption: &str, language: &str) -> (f64, Option<String>) {
        let language = self.languages.get(language).copied().unwrap_or(0.0);
        if self.terms.is_empty() {
            return ((0.2 * language).clamp(-1.0, 1.0), None);
        }
        // Runs for every candidate: the scale is computed once, and words are looked up
        // without allocating unless they need lower-casing.
        let term_scale = *self.term_scale.get_or_init(|| scale(&self.terms));
        let mut sum = 0.0;
        let mut n = 0.0;
        let mut best: Option<(f64, &str)> = None;
        for word in caption.split_whitespace() {
            let Some(term) = term_of(word) else { continue };
            let lowered;
            let key: &str = if term.chars().any(char::is_uppercase) {
                lowered = term.to_lowercase();
                &lowered
            } else {
                term
            };
            // A word in the profile is a content term; any other counts only if it would be.
            let (stored, w) = match self.terms.get_key_value(key) {
                Some((k, w)) => (k.as_str(), *w / term_scale),
                None if is_content_term(key) => ("", 0.0),
                None => continue,
            };
            sum += w;
            n += 1.0;
            if w > 0.3 && best.is_none_or(|(b, _)| w > b) {
                best = Some((w, stored));
            }
        }
        let terms = if n > 0.0 { sum / n } else { 0.0 };
        (
            (0.8 * terms + 0.2 * language).clamp(-1.0, 1.0),
            best.map(|(_, t)| t.to_owned()),
        )
    }
}

/// Words that say nothing about a video's content (sorted: looked up by binary search).
const STOPWORDS: &[&str] = &[
    "about", "after", "again", "all", "also", "and", "are", "but", "can", "for", "from", "have",
    "here", "how", "into", "just", "like", "more", "much", "not", "now", "one", "our", "out",
    "over", "really", "that", "the", "their", "them", "then", "there", "these", "this", "time",
    "was", "watch", "what", "when", "which", "with", "you", "your",
];

/// A caption word without surrounding punctuation; `None` for hashtags and mentions.
fn term_of(word: &str) -> Option<&str> {
    if word.starts_with('#') || word.starts_with('@') {
        return None;
    }
    Some(word.trim_matches(|c: char| !c.is_alphanumeric()))
}

/// The content terms of a caption: lower-case words of four letters or more that are neither
/// hashtags, mentions nor stopwords.
pub fn caption_terms(caption: &str) -> impl Iterator<Item = String> + '_ {
    caption
        .split_whitespace()
        .filter_map(term_of)
        .map(str::to_lowercase)
        .filter(|w| is_content_term(w))
}

fn is_content_term(word: &str) -> bool {
    word.chars().count() >= 4 && STOPWORDS.binary_search(&word).is_err()
}

/// The largest magnitude among the weights (never zero).
fn scale<K>(weights: &HashMap<K, f64>) -> f64 {
    weights
        .values()
        .fold(0.0f64, |a, w| a.max(w.abs()))
        .max(1e-9)
}

/// The affinity computation shared by serving ([`Interest`]) and training (the ranker replays
/// events with running maps): weights are scaled by the largest magnitude so they fall in
/// [-1, 1] whatever the amount of history.
pub fn affinity(
    tags: &HashMap<String, f64>,
    creators: &HashMap<UserId, f64>,
    hashtags: &str,
    creator: UserId,
) -> (f64, f64, Option<String>) {
    scaled_affinity(
        tags,
        creators,
        (scale(tags), scale(creators)),
        hashtags,
        creator,
    )
}

fn scaled_affinity(
    tags: &HashMap<String, f64>,
    creators: &HashMap<UserId, f64>,
    (tag_scale, creator_scale): (f64, f64),
    hashtags: &str,
    creator: UserId,
) -> (f64, f64, Option<String>) {
    let mut best: Option<(f64, &str)> = None;
    let mut sum = 0.0;
    let mut n = 0.0;
    for tag in hashtags.split_whitespace() {
        let w = tags.get(tag).copied().unwrap_or(0.0) / tag_scale;
        sum += w;
        n += 1.0;
        if w > 0.0 && best.is_none_or(|(b, _)| w > b) {
            best = Some((w, tag));
        }
    }
    let tag_affinity = if n > 0.0 { sum / n } else { 0.0 };
    let creator_affinity = creators.get(&creator).copied().unwrap_or(0.0) / creator_scale;
    (
        tag_affinity,
        creator_affinity,
        best.map(|(_, t)| t.to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn caption_terms_skip_tags_mentions_short_words_and_stopwords() {
        let terms: Vec<String> =
            caption_terms("Sourdough, finally! With @ana #baking — crumb shot").collect();
        assert_eq!(terms, ["sourdough", "finally", "crumb", "shot"]);
    }

    #[test]
    fn content_similarity_follows_caption_terms_and_language() {
        let mut me = Interest::default();
        me.terms.insert("sourdough".into(), 2.0);
        me.terms.insert("crumb".into(), 1.0);
        me.terms.insert("karaoke".into(), -2.0);
        me.languages.insert("en".into(), 1.0);
        let (bread, best) = me.content("Sourdough crumb, finally", "en");
        assert_eq!(best.as_deref(), Some("sourdough"));
        let (song, none) = me.content("Karaoke night", "en");
        assert!(none.is_none());
        let (other_language, _) = me.content("Sourdough crumb, finally", "ja");
        assert!(bread > other_language && other_language > 0.0);
        assert!(bread > 0.5 && song < 0.0, "{bread} {song}");
        // Stopwords and short words do not dilute the average.
        let (padded, _) = me.content("this is the sourdough", "en");
        let (plain, _) = me.content("sourdough", "en");
        assert!((padded - plain).abs() < 1e-12);
    }
}
