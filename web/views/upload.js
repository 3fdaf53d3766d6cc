// Upload page. The file is checked here first (type and size) so that a wrong file is
// refused at once with a clear message; the server still has the last word and its error
// message is shown as is. XMLHttpRequest gives a real progress bar.

import { uploadVideo } from '../api.js';
import { me } from '../session.js';
import { navigate } from '../router.js';
import { h, toast, sentence } from '../ui.js';

const MAX_BYTES = 50 * 1024 * 1024;
const LANGUAGES = [
  ['', 'Not specified'], ['en', 'English'], ['es', 'Español'], ['fr', 'Français'], ['de', 'Deutsch'],
  ['it', 'Italiano'], ['pt', 'Português'], ['nl', 'Nederlands'], ['pl', 'Polski'], ['sv', 'Svenska'],
  ['da', 'Dansk'], ['fi', 'Suomi'], ['no', 'Norsk'], ['cs', 'Čeština'], ['el', 'Ελληνικά'], ['ro', 'Română'],
  ['hu', 'Magyar'], ['tr', 'Türkçe'], ['uk', 'Українська'], ['ru', 'Русский'], ['ar', 'العربية'],
  ['hi', 'हिन्दी'], ['bn', 'বাংলা'], ['id', 'Bahasa Indonesia'], ['vi', 'Tiếng Việt'], ['th', 'ไทย'],
  ['ja', '日本語'], ['ko', '한국어'], ['zh', '中文'],
];

/** Returns an error message for a file the server would refuse, or null. */
export function checkFile(file) {
  if (!file) return 'Choose a video file.';
  const isMp4 = file.type === 'video/mp4' || (!file.type && /\.mp4$/i.test(file.name));
  if (!isMp4) return `“${file.name}” is not an MP4 video. Please choose an .mp4 file.`;
  if (file.size > MAX_BYTES) return `“${file.name}” is ${(file.size / 1048576).toFixed(1)} MiB; videos can be 50 MiB at most.`;
  if (file.size === 0) return `“${file.name}” is empty.`;
  return null;
}

export function uploadView(root) {
  document.title = 'Upload · reelm';
  if (!me()) {
    root.append(h('main', { class: 'page narrow' },
      h('h1', {}, 'Upload a video'),
      h('p', {}, 'Log in to share your videos.'),
      h('div', { class: 'row' },
        h('a', { class: 'btn', href: '/login?next=%2Fupload' }, 'Log in'),
        h('a', { class: 'btn btn-primary', href: '/signup?next=%2Fupload' }, 'Sign up'))));
    return undefined;
  }

  const browserLang = (navigator.language || '').slice(0, 2).toLowerCase();
  const file = h('input', { id: 'up-file', name: 'file', type: 'file', accept: 'video/mp4,.mp4', required: true, 'aria-describedby': 'up-file-help' });
  const preview = h('video', { class: 'upload-preview', muted: true, playsinline: true, controls: true, hidden: true, 'aria-label': 'Preview of the chosen video' });
  const caption = h('textarea', { id: 'up-caption', name: 'caption', rows: 3, maxlength: 2200, placeholder: 'Describe your video…' });
  const hashtags = h('input', { id: 'up-tags', name: 'hashtags', type: 'text', placeholder: '#sunset #travel', autocomplete: 'off', 'aria-describedby': 'up-tags-help' });
  const language = h('select', { id: 'up-lang', name: 'language' },
    LANGUAGES.map(([code, name]) => h('option', { value: code, selected: code === browserLang ? true : undefined }, name)));
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const bar = h('progress', { class: 'upload-progress', max: 100, value: 0, 'aria-label': 'Upload progress' });
  const pct = h('span', { class: 'upload-pct' }, '0 %');
  const progress = h('div', { class: 'upload-status', hidden: true }, bar, pct);
  const submit = h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, 'Post');

  // A file the browser cannot decode gets no preview; the server will say what is wrong with it.
  preview.addEventListener('error', () => { preview.hidden = true; });
  let previewUrl = null;
  const showError = (msg) => {
    error.textContent = msg;
    error.hidden = !msg;
  };

  file.addEventListener('change', () => {
    const f = file.files[0];
    const problem = f ? checkFile(f) : null;
    showError(problem);
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    preview.hidden = true;
    preview.removeAttribute('src');
    if (f && !problem) {
      previewUrl = URL.createObjectURL(f);
      preview.src = previewUrl;
      preview.hidden = false;
    }
  });

  const form = h('form', { class: 'form upload-form', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: 'up-file' }, 'Video'),
      file,
      h('p', { class: 'help', id: 'up-file-help' }, 'MP4, up to 50 MiB. Vertical 9:16 looks best.'),
      preview),
    h('div', { class: 'field' }, h('label', { for: 'up-caption' }, 'Caption'), caption),
    h('div', { class: 'field' },
      h('label', { for: 'up-tags' }, 'Hashtags'),
      hashtags,
      h('p', { class: 'help', id: 'up-tags-help' }, 'Separate with spaces or commas; the # is optional.')),
    h('div', { class: 'field' }, h('label', { for: 'up-lang' }, 'Language'), language),
    error, progress, submit);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = file.files[0];
    const problem = checkFile(f);
    if (problem) {
      showError(problem);
      file.focus();
      return;
    }
    showError(null);
    const data = new FormData();
    data.append('file', f, f.name);
    data.append('caption', caption.value.trim());
    data.append('hashtags', hashtags.value.trim());
    if (language.value) data.append('language', language.value);

    submit.disabled = true;
    submit.textContent = 'Uploading…';
    progress.hidden = false;
    try {
      const video = await uploadVideo(data, (fraction) => {
        const p = Math.round(fraction * 100);
        bar.value = p;
        pct.textContent = `${p} %`;
      });
      toast('Your video is live!');
      navigate(`/v/${encodeURIComponent(video.id)}`);
    } catch (err) {
      showError(err.status >= 400 && err.status < 500 ? `Couldn't upload this video: ${sentence(err.message)}` : sentence(err.message));
      progress.hidden = true;
      bar.value = 0;
      pct.textContent = '0 %';
    } finally {
      submit.disabled = false;
      submit.textContent = 'Post';
    }
  });

  root.append(h('main', { class: 'page narrow' }, h('h1', {}, 'Upload a video'), form));
  return () => { if (previewUrl) URL.revokeObjectURL(previewUrl); };
}
