/**
 * The page's style sheet. System fonts only (the file must open offline). Words never break inside:
 * long values wrap at their separators (<wbr> after / ? & = , ;) or at spaces, credential ids are cut
 * visually with an ellipsis (the text stays whole for copy and search).
 */
export const STYLE = `
:root{--red:#b3261e;--red-bg:#fde7e5;--amber:#8a5a00;--amber-bg:#fff1d0;--violet:#6b2fa3;--violet-bg:#f1e6fb;--brown:#7a4b12;
--brown-bg:#f6eadb;--green:#1e6b3a;--green-bg:#e3f3e8;--blue:#1f5fa8;--ink:#1d232b;--muted:#5d6670;--line:#d9dee4;--panel:#f6f8fa}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;padding:20px 24px 48px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif;color:var(--ink);
overflow-wrap:normal;word-break:normal;hyphens:none}
code,.credid{font-family:ui-monospace,"SFMono-Regular","DejaVu Sans Mono","Liberation Mono",monospace;font-size:12px}
a{color:var(--blue);text-decoration:none}a:hover{text-decoration:underline}
h1{font-size:20px;margin:0 0 4px}
h2{font-size:16px;margin:28px 0 8px;padding-top:4px;border-top:1px solid var(--line)}
h2 .muted{font-size:13px;font-weight:normal;margin-left:8px}
h3{font-size:14px;margin:0 0 2px}
.muted,.sub{color:var(--muted)}
.sub{display:block;font-size:12px}
header .facts{display:flex;flex-wrap:wrap;gap:4px 18px;color:var(--muted);font-size:13px}
header .facts b{color:var(--ink);font-weight:600}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0 0}
.chip{border:1px solid var(--line);border-radius:12px;padding:1px 10px;font-size:13px;background:var(--panel);white-space:nowrap}
.chip.bad{border-color:var(--red);color:var(--red);background:var(--red-bg)}
.chip.warn{border-color:var(--amber);color:var(--amber);background:var(--amber-bg)}
.badge{display:inline-block;white-space:nowrap;border-radius:4px;padding:0 7px;font-size:12px;font-weight:600;margin-right:8px}
.badge.expired{background:var(--red);color:#fff}.badge.rejected{background:var(--violet);color:#fff}
.badge.legacy{background:var(--brown);color:#fff}.badge.unknown{background:#e6e9ed;color:var(--muted)}.badge.expiring{background:#e8a200;color:#241a00}.badge.valid{background:var(--green-bg);color:var(--green)}
ol.attention{list-style:none;margin:10px 0 0;padding:0;border:1px solid var(--line);border-radius:6px}
ol.attention li{padding:6px 12px;border-top:1px solid var(--line)}
ol.attention .l1{display:flex;justify-content:space-between;align-items:baseline;gap:12px}
ol.attention .l2{display:flex;flex-wrap:wrap;gap:0 18px;font-size:13px;color:var(--muted);margin-top:1px}
ol.attention .l2 b{color:var(--ink);font-weight:600}
ol.attention .credid{max-width:40ch;color:var(--muted)}
ol.attention li:first-child{border-top:0}
ol.attention li.expired{background:var(--red-bg)}ol.attention li.rejected{background:var(--violet-bg)}
ol.attention li.legacy{background:var(--brown-bg)}ol.attention li.expiring{background:var(--amber-bg)}
ol.attention .who{color:var(--ink)}
.all-good{padding:8px 12px;border:1px solid var(--green-bg);background:var(--green-bg);color:var(--green);border-radius:6px;margin:10px 0 0}
.credid{display:inline-block;max-width:21ch;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;vertical-align:bottom;user-select:all}
.charts{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:16px 28px;align-items:start}
svg.chart{display:block;max-width:100%;height:auto;font:12px system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif}
svg .tick,svg .total{fill:var(--muted);font-size:11px}
svg .grid{stroke:#e6e9ed}
svg .stripe{fill:#000;opacity:.025}
svg .window{fill:#ffe8a8;opacity:.55}
svg .window-label{fill:var(--amber);font-size:11px}
svg .capture{fill:var(--blue);opacity:.75}
svg .now{stroke:var(--ink);stroke-dasharray:4 3}
svg .marker-label{font-size:11px;font-weight:600;fill:var(--ink)}
svg .marker-label.capture{fill:var(--blue)}
svg .name{fill:var(--ink)}
svg .validity{fill:#cfd6de}
svg .phrase{font-size:12px;fill:var(--muted)}
svg .mark{stroke:#fff;stroke-width:1.5}
svg .valid .mark{fill:var(--green)}svg .expiring .mark{fill:#e8a200}svg .expired .mark{fill:var(--red)}
svg .rejected .mark{fill:var(--violet)}svg .legacy .mark{fill:var(--brown)}svg .mark.open{fill:#fff;stroke:var(--muted);stroke-width:2}
svg .legacy .mark.open{stroke:var(--brown)}
svg .expired .phrase{fill:var(--red);font-weight:600}svg .expiring .phrase{fill:var(--amber);font-weight:600}
svg .rejected .phrase{fill:var(--violet);font-weight:600}svg .legacy .phrase{fill:var(--brown);font-weight:600}
svg a:hover .name{text-decoration:underline}
svg .baseline{stroke:var(--line)}
svg .bar{fill:var(--blue)}svg .bar.error{fill:var(--red)}
svg .verb{fill:var(--muted);font-size:11px;font-weight:600}
svg .cell rect,svg rect.cell{stroke:none}
svg rect.empty{fill:#f4f6f8}
svg .l1 rect{fill:#dbe8f6}svg .l2 rect{fill:#b4cfee}svg .l3 rect{fill:#7fabdd}svg .l4 rect{fill:#3f7fc4}svg .l5 rect{fill:#1d4f8c}
svg .cell text{fill:var(--ink);font-size:11px}svg .l4 text,svg .l5 text{fill:#fff}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;color:var(--muted);margin:4px 0 0}
.legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:5px;vertical-align:-1px}
.legend .expired{background:var(--red)}.legend .rejected{background:var(--violet)}.legend .legacy{background:var(--brown)}
.legend .expiring{background:#e8a200}.legend .valid{background:var(--green)}.legend .window{background:#ffe8a8;border-radius:2px}
.legend .capture{background:var(--blue);border-radius:1px;width:3px}
ul.problems{list-style:none;padding:0;margin:0;display:grid;gap:8px}
ul.problems li{border:1px solid var(--line);border-left:4px solid var(--red);border-radius:4px;padding:8px 12px}
ul.problems .advice{margin:2px 0}
.count-badge{display:inline-block;min-width:22px;text-align:center;border-radius:10px;background:var(--red);color:#fff;font-size:12px;padding:0 6px}
.table-tools{display:flex;gap:12px;align-items:center;margin:6px 0}
.table-tools input{font:inherit;font-size:13px;padding:3px 8px;border:1px solid var(--line);border-radius:4px;width:280px}
.table-tools .count{font-size:12px;color:var(--muted)}
table.data{border-collapse:collapse;width:100%;font-size:13px}
table.data th{position:sticky;top:0;background:#eef1f4;text-align:left;vertical-align:bottom;border-bottom:1px solid #c9d0d8;padding:0;white-space:nowrap}
table.data th button{all:unset;cursor:pointer;display:block;padding:5px 8px;font-weight:600}
table.data th[aria-sort=ascending] button::after{content:" ▲";font-size:10px}
table.data th[aria-sort=descending] button::after{content:" ▼";font-size:10px}
table.data td{padding:4px 8px;border-bottom:1px solid #edf0f3;vertical-align:top}
table.data tr:target td{background:#fff6cc}
table.data tr.problem td{background:#fdf3f2}
table.data .nowrap{white-space:nowrap}
table.data .ua{min-width:150px;max-width:300px}
table.data .calls{min-width:160px}
table.data .pathcol{min-width:220px}
table.data .cred{min-width:160px}
.line{display:block}
.nw{white-space:nowrap}
.status{font-weight:600;white-space:nowrap}
.s2{color:var(--green)}.s3{color:#0f6e84}.s4{color:var(--amber)}.s5{color:var(--red)}.s1,.sx{color:var(--muted)}
.ok{color:var(--green)}.rej{color:var(--violet);font-weight:600}
ul.problems li.rejected{border-left-color:var(--violet)}
table.data .badges .badge{display:block;width:fit-content;margin:0 0 3px;white-space:normal}
table.data .badges{min-width:150px}
.partial{color:var(--amber)}.no{color:var(--red)}
@media (max-width:1000px){.charts{grid-template-columns:1fr}}
`;
