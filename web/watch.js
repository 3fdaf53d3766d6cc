// Truthful watch-time measurement for one clip.
//
// Time counts only while all three hold: the video is actually playing (between the
// `playing` event and the next pause/stall), the clip is on screen (the feed reports
// intersection >= 0.6) and the page is visible. When the clip is left, `flush()` sends one
// view event with the accumulated milliseconds and whether the end was reached at least once,
// then starts over, so coming back to a clip later is a new view.

import { api } from './api.js';
import { me } from './session.js';

export class WatchTracker {
  constructor(videoId, videoEl) {
    this.videoId = videoId;
    this.video = videoEl;
    this.playing = false;
    this.onScreen = false;
    this.accumulated = 0;
    this.since = null; // performance.now() when the current counting stretch began
    this.completed = false;

    const setPlaying = (on) => () => {
      this.playing = on;
      this.update();
    };
    this.listeners = [
      ['playing', setPlaying(true)],
      ['pause', setPlaying(false)],
      ['waiting', setPlaying(false)], // stalled for data: the person is not watching anything
      ['emptied', setPlaying(false)],
      ['error', setPlaying(false)],
      ['ended', () => {
        this.completed = true;
        this.playing = false;
        this.update();
      }],
    ];
    for (const [type, fn] of this.listeners) videoEl.addEventListener(type, fn);
    this.onVisibility = () => this.update();
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  /** Called by the feed when the clip's visible share crosses 0.6. */
  setOnScreen(on) {
    this.onScreen = on;
    this.update();
  }

  get counting() {
    return this.playing && this.onScreen && document.visibilityState === 'visible';
  }

  /** Opens or closes a counting stretch when any condition changes. */
  update() {
    const now = performance.now();
    if (this.counting && this.since === null) {
      this.since = now;
    } else if (!this.counting && this.since !== null) {
      this.accumulated += now - this.since;
      this.since = null;
    }
  }

  /** Milliseconds watched so far in this view. */
  get watchedMs() {
    const running = this.since !== null ? performance.now() - this.since : 0;
    return Math.round(this.accumulated + running);
  }

  /**
   * Sends the view event if anything was watched, then resets. `keepalive` is used on
   * pagehide so the request survives the page. Anonymous viewers send nothing.
   */
  flush({ keepalive = false } = {}) {
    const ms = this.watchedMs;
    const completed = this.completed;
    this.accumulated = 0;
    this.completed = false;
    this.since = this.counting ? performance.now() : null;
    if (ms <= 0 || !me()) return;
    api.view(this.videoId, ms, completed, keepalive).catch((err) => {
      // A lost view event is not worth interrupting the viewer for.
      console.warn(`view event for ${this.videoId} not recorded: ${err.message}`);
    });
  }

  destroy() {
    for (const [type, fn] of this.listeners) this.video.removeEventListener(type, fn);
    document.removeEventListener('visibilitychange', this.onVisibility);
  }
}
