#!/bin/sh
# gen.sh PAGES OUT: turns each PAGES/*.md (a Markdown subset: `# ` and `## ` headings,
# `- ` list items, paragraphs, `[text](page.md)` links, `code`) into OUT/*.html inside
# layout.html, and writes OUT/index.html listing every page by its title.
set -eu
pages=$1
out=$2
site=${SITE_TITLE:-site}
mkdir -p "$out"

render() { # render FILE.md TITLE > FILE.html
  awk -v site="$site" -v title="$2" -v layout=layout.html '
    function inline(s) {
      gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s)
      while (match(s, /`[^`]*`/))
        s = substr(s, 1, RSTART - 1) "<code>" substr(s, RSTART + 1, RLENGTH - 2) "</code>" substr(s, RSTART + RLENGTH)
      while (match(s, /\[[^]]*\]\([^)]*\)/)) {
        link = substr(s, RSTART, RLENGTH)
        text = link; sub(/^\[/, "", text); sub(/\].*/, "", text)
        href = link; sub(/^[^(]*\(/, "", href); sub(/\)$/, "", href); sub(/\.md$/, ".html", href)
        s = substr(s, 1, RSTART - 1) "<a href=\"" href "\">" text "</a>" substr(s, RSTART + RLENGTH)
      }
      return s
    }
    function close_blocks() {
      if (para != "") { body = body "<p>" para "</p>\n"; para = "" }
      if (inlist) { body = body "</ul>\n"; inlist = 0 }
    }
    /^# /   { close_blocks(); body = body "<h1>" inline(substr($0, 3)) "</h1>\n"; next }
    /^## /  { close_blocks(); body = body "<h2>" inline(substr($0, 4)) "</h2>\n"; next }
    /^- /   { if (para != "") { body = body "<p>" para "</p>\n"; para = "" }
              if (!inlist) { body = body "<ul>\n"; inlist = 1 }
              body = body "<li>" inline(substr($0, 3)) "</li>\n"; next }
    /^$/    { close_blocks(); next }
            { para = (para == "" ? "" : para " ") inline($0) }
    END {
      close_blocks()
      while ((getline line < layout) > 0) {
        if (line == "{{body}}") { printf "%s", body; continue }
        gsub(/\{\{title\}\}/, title, line); gsub(/\{\{site\}\}/, site, line)
        print line
      }
    }' "$1"
}

index="$out/index.md"
printf '# %s\n\n' "$site" > "$index"
for page in "$pages"/*.md; do
  name=$(basename "$page" .md)
  title=$(sed -n 's/^# //p' "$page" | head -n 1)
  [ -n "$title" ] || title=$name
  render "$page" "$title" > "$out/$name.html"
  printf -- '- [%s](%s.md)\n' "$title" "$name" >> "$index"
  echo "page: $name.html ($title)"
done
render "$index" "Home" > "$out/index.html"
rm "$index"
echo "index: $(grep -c '<li>' "$out/index.html") pages"
