#!/usr/bin/env bash
# gen-demo-media.sh: regenerates every file in assets/demo/ (the demo clips, their posters and
# clips.toml).
#
# Run ONCE by maintainers when the demo set changes, then commit the output. It is NOT run at
# build, test or run time: reelm embeds the committed files (crates/media/src/demo.rs uses
# include_bytes!), so nobody needs ffmpeg to build or run the platform.
#
# Needs: ffmpeg with libx264, the native AAC encoder and drawtext (Debian: `apt-get install
# ffmpeg fonts-dejavu-core`).
#
# Every clip is synthesised from ffmpeg's lavfi sources (no third-party footage, so no licence
# questions): 360x640 vertical, 24 fps, 5-6 s, H.264 High yuv420p + AAC-LC mono, MP4 with
# +faststart so browsers can start playing before the whole file arrived. x264 runs with one
# thread and all sources use fixed seeds, so a rerun with the same ffmpeg gives the same bytes.
#
# After editing the table below, also update the list in crates/media/src/demo.rs; its unit
# test fails when the two disagree.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/assets/demo"
FONT="${FONT:-/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf}"
FONT_LIGHT="${FONT_LIGHT:-/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf}"
# Only rebuild these slugs when given (e.g. `gen-demo-media.sh neon-loop`); clips.toml is always
# rewritten from the whole table.
ONLY=("$@")

command -v ffmpeg >/dev/null || { echo "ffmpeg not found (apt-get install ffmpeg)" >&2; exit 1; }
[ -f "$FONT" ] || { echo "font $FONT not found (apt-get install fonts-dejavu-core)" >&2; exit 1; }
mkdir -p "$OUT"

# One clip per line, fields separated by '|':
#   slug | title | seconds | three tone frequencies in Hz and a tempo in BPM | lavfi video graph
#   (must produce frames; it is scaled to 360x640 afterwards) | caption | hashtags | language
# Hashtags come from one shared vocabulary of 12 topics (travel music cooking dance pets art
# science sports comedy nature tech fashion) so that hashtag-based recommendation has structure.
CLIPS=$(cat <<'EOF'
sunset-drive|Sunset Drive|6|220 277 330 90|gradients=s=360x640:r=24:seed=1:nb_colors=4:c0=0xff7e5f:c1=0xfeb47b:c2=0x6a3093:c3=0x2c3e50:speed=0.03|Golden hour on the coast road, windows down and the playlist up|travel music nature|en
neon-loop|Neon Loop|5|330 415 494 120|testsrc2=s=360x640:r=24,hue=h=t*72:s=1.6|Stared at this loop for ten minutes and I regret nothing|tech art music|en
fractal-dive|Fractal Dive|6|196 247 294 72|mandelbrot=s=180x320:r=24:maxiter=200:start_x=-0.743643887:start_y=0.131825904:start_scale=3:end_scale=0.02:end_pts=150|How deep does it go? Zooming into the Mandelbrot set|science art|en
life-goes-on|Life Goes On|6|262 330 392 100|life=s=90x160:r=24:seed=7:ratio=0.12:mold=12:life_color=0x7CFC00:death_color=0x14325a:mold_color=0x0a1428,scale=360:640:flags=neighbor|Conway's Game of Life, watching little worlds be born and fade|science tech|en
rule-30|Rule 30|5|294 370 440 132|cellauto=s=90x160:r=24:rule=30:seed=3:scroll=1:full=0,scale=360:640:flags=neighbor,colorize=hue=200:saturation=0.7|One line of code, endless chaos. Cellular automata are wild|science art tech|en
plasma-dreams|Plasma Dreams|6|233 294 349 84|nullsrc=s=180x320:r=24,geq=r='128+127*sin(X/14+T*2)':g='128+127*sin(Y/18-T*1.5)':b='128+127*sin((X+Y)/22+T)'|Late night vibes, just colors breathing|art music|en
ripple-lab|Ripple Lab|5|349 440 523 110|nullsrc=s=180x320:r=24,geq=r='40+30*sin(hypot(X-90\,Y-160)/5-T*5)':g='110+90*sin(hypot(X-90\,Y-160)/5-T*5)':b='180+70*sin(hypot(X-90\,Y-160)/5-T*5)'|Drop a pebble in a digital pond and watch the waves|science nature|en
triangle-theory|Triangle Theory|6|277 349 415 96|sierpinski=s=360x640:r=24:seed=11:jump=2:type=triangle,hue=h=t*30|Sierpinski triangles all the way down, math is beautiful|science art|en
spectrum|Spectrum|5|392 494 587 128|colorspectrum=s=360x640:type=all,scroll=h=0.004|Every color at once. Which one is your favorite?|art fashion|en
retro-broadcast|Retro Broadcast|5|440 554 659 60|smptehdbars=s=360x640:r=24,scroll=v=0.006|We interrupt this feed for an important announcement: nothing|comedy tech|en
color-wheel|Color Wheel|6|262 311 392 80|rgbtestsrc=s=640x640:r=24,rotate=a=t*0.6:ow=360:oh=640:c=black|Spin the wheel, pick your outfit color for tomorrow|fashion art|en
morning-fog|Morning Fog|6|196 233 294 60|color=c=0x4a6572:s=90x160:r=24,noise=alls=70:allf=t,boxblur=6,scale=360:640,eq=brightness=0.06|Woke up early for this view over the valley, worth it|nature travel|en
light-trails|Light Trails|5|370 466 554 116|testsrc2=s=180x320:r=24,edgedetect=mode=colormix,lagfun=decay=0.97,scale=360:640|Long exposure feeling, city lights at midnight|tech art travel|en
edge-of-chaos|Edge of Chaos|6|220 262 330 70|mandelbrot=s=180x320:r=24:maxiter=150:start_x=-0.75:start_y=0.1:start_scale=2:end_scale=0.2:end_pts=150,edgedetect=mode=colormix,hue=h=t*40|Fractals but make it neon sketch|science art|en
candy-clouds|Candy Clouds|5|523 659 784 100|gradients=s=360x640:r=24:seed=2:type=1:nb_colors=3:c0=0xffafcc:c1=0xbde0fe:c2=0xcdb4db:speed=0.05|Pastel mood board for the spring collection|fashion art|en
checkmate|Checkmate|5|294 349 440 120|nullsrc=s=180x320:r=24,geq=lum='if(mod(floor((X+T*30)/20)+floor((Y+T*15)/20)\,2)\,230\,35)':cb=128:cr=128,scale=360:640,colorize=hue=40:saturation=0.4|Moving checkerboard, a tiny optical illusion for your feed|art comedy|en
runway-stripes|Runway Stripes|5|349 415 523 124|nullsrc=s=180x320:r=24,geq=r='128+127*sin((X+Y)/9-T*4)':g='40+30*sin((X+Y)/9-T*4)':b='90+60*cos((X-Y)/15+T)'|Bold stripes are back this season, trust me|fashion dance|en
beach-day|Beach Day|6|262 330 392 92|nullsrc=s=180x320:r=24,geq=r='if(lt(hypot(X-90\,Y-120-8*sin(T))\,28)\,255\,if(lt(Y\,200)\,255-Y/2\,30+20*sin(X/9+T*3)))':g='if(lt(hypot(X-90\,Y-120-8*sin(T))\,28)\,210\,if(lt(Y\,200)\,140-Y/3\,110+30*sin(X/9+T*3)))':b='if(lt(hypot(X-90\,Y-120-8*sin(T))\,28)\,90\,if(lt(Y\,200)\,120+Y/3\,170+40*sin(X/9+T*3)))'|Sun, sea and absolutely no emails|travel nature|en
petri-dish|Petri Dish|5|311 392 466 104|life=s=72x128:r=24:seed=21:ratio=0.3:mold=25:life_color=0xffd166:death_color=0x3a0ca3:mold_color=0x240046,scale=360:640:flags=neighbor|Lab day: these cells have more social life than me|science comedy|en
rule-110|Rule 110|6|247 311 370 112|cellauto=s=90x160:r=24:rule=110:seed=5:scroll=1:full=0,scale=360:640:flags=neighbor,colorize=hue=330:saturation=0.8|Rule 110 is Turing complete. Your laptop, but as a pattern|tech science|en
glitch-mode|Glitch Mode|5|415 523 622 140|testsrc2=s=360x640:r=24,negate,swapuv,hue=h=t*120|When the Wi-Fi drops during the final boss|comedy tech|en
bounce|Bounce|5|330 392 494 128|color=c=0x1d3557:s=360x640:r=24,drawbox=x='abs(mod(t*190\,560)-280)':y='abs(mod(t*310\,1120)-560)':w=80:h=80:color=0xe63946:t=fill|Ball physics test, it never gets tired|sports comedy|en
pulse|Pulse|5|220 277 330 128|nullsrc=s=180x320:r=24,geq=r='128+127*sin(hypot(X-90\,Y-160)/8-T*8)*exp(-mod(T\,0.47)*3)':g='30':b='128+100*cos(hypot(X-90\,Y-160)/10-T*6)'|Feel the beat? Headphones on for this one|music dance|en
hypno-spiral|Hypno Spiral|6|185 233 277 66|nullsrc=s=180x320:r=24,geq=lum='128+110*sin(6*atan2(Y-160\,X-90)+hypot(X-90\,Y-160)/6-T*4)':cb='128+60*sin(T)':cr='128+60*cos(T)',scale=360:640|Look closely... you are now following this account|comedy art|en
disco-fever|Disco Fever|5|466 587 698 124|gradients=s=360x640:r=24:seed=9:type=3:nb_colors=6:c0=0xff006e:c1=0xfb5607:c2=0xffbe0b:c3=0x3a86ff:c4=0x8338ec:c5=0x06d6a0:speed=0.2|Friday night, the floor is ours|dance music|en
waldspaziergang|Waldspaziergang|6|196 247 294 76|nullsrc=s=180x320:r=24,geq=r='30+25*sin(X/11+sin(Y/17+T))':g='110+70*sin(X/13+sin(Y/19+T*0.8))':b='40+25*cos(Y/15-T)'|Sonntagmorgen im Wald, nur Vogelgezwitscher und frische Luft|nature travel|de
slow-simmer|Slow Simmer|6|233 277 349 70|nullsrc=s=180x320:r=24,geq=r='200+55*sin(X/20+T*3)*sin(Y/25-T*2)':g='90+60*sin(hypot(X-90\,Y-230)/7-T*6)':b='20+15*sin(Y/9+T)'|Sunday sauce, low heat, three hours. Patience is the secret ingredient|cooking art|en
happy-paws|Happy Paws|5|392 494 587 150|color=c=0xffe8d6:s=360x640:r=24,drawbox=x='140+110*sin(t*3)':y='360-abs(sin(t*5))*220':w=80:h=80:color=0xcb997e:t=fill,drawbox=x='160+110*sin(t*3)':y='330-abs(sin(t*5))*220':w=40:h=30:color=0x6b705c:t=fill|My dog when he hears the treat bag, every single time|pets comedy|en
siesta-gatuna|Siesta Gatuna|6|262 330 392 56|gradients=s=360x640:r=24:seed=4:type=2:nb_colors=3:c0=0x6d597a:c1=0xb56576:c2=0xeaac8b:speed=0.01|Mi gata durmiendo la siesta al sol, el mejor plan del domingo|pets nature|es
golazo|Golazo!|5|349 440 523 140|nullsrc=s=180x320:r=24,geq=r='if(lt(abs(mod(Y+T*40\,80)-40)\,2)+lt(abs(X-90)\,2)\,240\,40+10*sin(Y/5))':g='if(lt(abs(mod(Y+T*40\,80)-40)\,2)+lt(abs(X-90)\,2)\,240\,140+20*sin(Y/5))':b='if(lt(abs(mod(Y+T*40\,80)-40)\,2)+lt(abs(X-90)\,2)\,240\,50)'|¡Qué partido! El último minuto fue de infarto|sports comedy|es
street-style|Street Style|5|311 370 466 118|testsrc2=s=180x320:r=24,edgedetect=mode=colormix:high=0.2,negate,scale=360:640,hue=s=0.4|Monochrome fits only, downtown this afternoon|fashion travel|fr
petit-dejeuner|Petit-déjeuner|6|294 370 440 84|nullsrc=s=180x320:r=24,geq=r='230-40*lt(hypot(X-90\,Y-170)\,45+3*sin(T*4))':g='200-120*lt(hypot(X-90\,Y-170)\,45+3*sin(T*4))':b='150-130*lt(hypot(X-90\,Y-170)\,45+3*sin(T*4))+20*sin(X/8)'|Croissant, café crème et un peu de soleil sur la terrasse|cooking travel|fr
tanzfieber|Tanzfieber|5|440 523 659 128|testsrc2=s=180x320:r=24,hue=h=t*180:s=2,tmix=frames=6,scale=360:640|Neue Choreo, erster Versuch. Wer macht mit?|dance music|de
robot-lab|Robot Lab|5|370 440 554 100|rgbtestsrc=s=180x320:r=24,scroll=h=0.01:v=0.005,edgedetect=mode=colormix,scale=360:640:flags=neighbor|Unser Roboterprojekt macht endlich, was es soll (meistens)|tech science|de
sakura-breeze|Sakura Breeze|6|330 392 494 72|nullsrc=s=180x320:r=24,geq=r='230+25*sin(X/13+T)':g='170+40*sin((X+Y)/17-T*2)':b='200+30*cos(Y/21+T)'|春の風、桜の色。今日はゆっくり散歩|nature travel art|ja
ramen-night|Ramen Night|6|220 262 330 90|nullsrc=s=180x320:r=24,geq=r='if(lt(hypot(X-90\,Y-180)\,70)\,200+40*sin(hypot(X-90\,Y-180)/3-T*4)\,40)':g='if(lt(hypot(X-90\,Y-180)\,70)\,140+40*sin(X/4+T*3)\,25)':b='if(lt(hypot(X-90\,Y-180)\,70)\,60\,35)'|深夜のラーメン、最高のご褒美|cooking travel|ja
EOF
)

should_build() {
  [ ${#ONLY[@]} -eq 0 ] && return 0
  local s
  for s in "${ONLY[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

# TOML basic strings: escape backslashes and double quotes.
toml_str() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }

TOML="$OUT/clips.toml"
{
  echo "# Demo clips shipped with reelm. Generated by scripts/gen-demo-media.sh; do not edit by hand."
  echo "# crates/media/src/demo.rs embeds the same list; its unit test checks they agree."
  echo
} > "$TOML.tmp"

while IFS='|' read -r slug title secs tones graph caption tags lang; do
  [ -n "$slug" ] || continue
  read -r f1 f2 f3 bpm <<<"$tones"
  # Tags as a TOML array.
  tag_list=""
  for t in $tags; do tag_list+="${tag_list:+, }\"$t\""; done
  {
    echo "[[clip]]"
    echo "file = \"$slug.mp4\""
    echo "poster = \"$slug.jpg\""
    echo "title = $(toml_str "$title")"
    echo "caption = $(toml_str "$caption")"
    echo "hashtags = [$tag_list]"
    echo "language = \"$lang\""
    echo
  } >> "$TOML.tmp"

  should_build "$slug" || continue
  echo "== $slug ($title)" >&2

  # Title size: DejaVu Sans Bold averages ~0.62 em per character; keep the line within ~320 px.
  len=${#title}
  fs=$(( 470 / (len > 0 ? len : 1) ))
  (( fs > 56 )) && fs=56
  # drawtext needs ':' and '\'' escaped inside its text; our titles use neither except '!'.
  text=${title//:/\\:}

  # Video: the source graph, normalised to 360x640 @ 24 fps, then the title fading in over a
  # soft dark band and a small "reelm demo" tag at the bottom.
  vf="$graph,scale=360:640,setsar=1,fps=24,format=yuv420p"
  vf+=",drawbox=x=0:y=230:w=iw:h=110:color=black@0.35:t=fill"
  vf+=",drawtext=fontfile=$FONT:text='$text':fontsize=$fs:fontcolor=white:borderw=3:bordercolor=black@0.8:x=(w-text_w)/2:y=285-text_h/2:alpha='min(1,t/0.6)'"
  vf+=",drawtext=fontfile=$FONT_LIGHT:text='reelm demo':fontsize=16:fontcolor=white@0.8:x=(w-text_w)/2:y=h-40"

  # Audio: three plucked sine tones repeating at the clip's tempo over a soft drone, faded in
  # and out. Different chords and tempos per clip so they do not all sound the same.
  beat=$(awk "BEGIN{printf \"%.4f\", 60/$bpm}")
  aexpr="0.22*exp(-5*mod(t,$beat))*(sin(2*PI*$f1*t)+0.7*sin(2*PI*$f2*t)*gte(mod(t,2*$beat),$beat)+0.5*sin(2*PI*$f3*t))/2.2+0.06*sin(PI*$f1*t)"
  fade_out=$(awk "BEGIN{print $secs-0.6}")

  ffmpeg -nostdin -hide_banner -loglevel error -y \
    -f lavfi -i "$vf" \
    -f lavfi -i "aevalsrc='$aexpr':s=24000:c=mono,afade=t=in:d=0.3,afade=t=out:st=$fade_out:d=0.6" \
    -t "$secs" -map 0:v -map 1:a \
    -c:v libx264 -threads 1 -preset veryslow -crf 32 -maxrate 100k -bufsize 200k \
    -profile:v high -level:v 3.0 -pix_fmt yuv420p -g 48 -x264-params "rc-lookahead=48" \
    -c:a aac -b:a 32k -ac 1 -ar 24000 \
    -movflags +faststart -map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
    "$OUT/$slug.mp4"

  # Poster: the frame at 1.2 s, when the title has fully faded in.
  ffmpeg -nostdin -hide_banner -loglevel error -y -ss 1.2 -i "$OUT/$slug.mp4" -frames:v 1 -q:v 7 \
    -map_metadata -1 -fflags +bitexact "$OUT/$slug.jpg"
done <<<"$CLIPS"

mv "$TOML.tmp" "$TOML"
echo "wrote $(grep -c '^\[\[clip\]\]' "$TOML") clips to $OUT ($(du -sh "$OUT" | cut -f1))" >&2
