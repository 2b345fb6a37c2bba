"""The report page's inline style sheet and its few lines of sorting script (no framework)."""

CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d232a;
background:#f6f7f9}
main{max-width:1240px;margin:0 auto;padding:14px 18px 40px}
h1{font-size:21px;margin:0 0 2px}h2{font-size:16px;margin:22px 0 6px}
.meta{color:#5b6570;margin:0 0 10px;font-size:13px}
.lead{display:grid;grid-template-columns:minmax(0,1fr) 500px;gap:18px;align-items:start}
#summary,#main-plot{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:12px 16px;margin:0}
#summary h2{margin:12px 0 4px;font-size:14px}
.answer{margin:0;font-size:20px}.answer .big{font-size:38px;font-weight:700;color:#146c43;margin-right:4px}
.answer .of{color:#5b6570;font-size:15px}
.rule{margin:2px 0 8px;color:#3d4650;font-size:13px}
.chips{list-style:none;display:flex;flex-wrap:wrap;gap:6px;padding:0;margin:0}
.chip{border-radius:12px;padding:2px 10px;font-size:13px;border:1px solid transparent}
.chip.interval,.pill.interval{background:#dcf3e5;border-color:#1b9e5a;color:#0e5631}
.chip.tolerance,.pill.tolerance{background:#e1ebfb;border-color:#2f6fd0;color:#173d7a}
.chip.neither,.pill.neither{background:#fbe3e6;border-color:#d1495b;color:#7c1624}
.chip.nopaper,.pill.nopaper{background:#eef0f2;border-color:#c3c8ce;color:#4b545d}
.pill{border-radius:10px;padding:0 7px;font-size:12px;white-space:nowrap;border:1px solid}
.alarm{margin:10px 0 0;padding:8px 12px;border:2px solid #b3261e;background:#fde7e7;color:#6d0f0a;
border-radius:6px}
.alarm ul{margin:4px 0 0;padding-left:6px;list-style:none;font-size:12.5px}
.alarm li{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.notice{margin:10px 0 0;padding:6px 12px;border:1px solid #c9a227;background:#fff6d6;border-radius:6px}
.rule a{color:#8a6d00;font-weight:600}
.warn{background:#fff6d6;border:1px solid #e0c060;padding:6px 14px;border-radius:6px}
.note{color:#5b6570;font-size:12.5px;margin:6px 0 0}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #dde1e6;padding:3px 7px;vertical-align:top;overflow-wrap:break-word}
thead th{background:#eef1f4;text-align:left;font-weight:600}
table.gains{width:100%}table.gains td,table.gains th{padding:2px 6px}
table.gains tbody th{font-weight:500;text-align:left}
table.gains .n{color:#5b6570;font-size:11px;margin-left:5px;display:inline-block;min-width:16px;text-align:right}
table.gains thead .n{margin-left:2px}
table.gains tr.break>*{border-top:2px solid #aab2bb}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.nowrap{white-space:nowrap}
td.ours{background:#f3f8ff}
.sub{display:block;color:#5b6570;font-size:11.5px}
#main-plot img{width:100%;height:auto;display:block}
#main-plot figcaption{font-size:12px;color:#5b6570}
table.cells{width:100%;font-size:12.5px}
table.cells td{padding:3px 6px}
table.sortable thead th{position:sticky;top:0;z-index:1;cursor:pointer;user-select:none;
box-shadow:inset 0 -1px 0 #c3c8ce}
table.sortable thead th:after{content:" \\2195";color:#9aa3ad;font-size:11px}
table.sortable thead th[aria-sort=ascending]:after{content:" \\25B2";color:#1d232a}
table.sortable thead th[aria-sort=descending]:after{content:" \\25BC";color:#1d232a}
td.pos{color:#146c43}td.neg{color:#a1262c}td.ok{color:#146c43}td.bad{color:#a1262c}td.muted{color:#7b848e}
tr.unverified td{background:#fdeeee}
table td.alarmcell{color:#fff;background:#b3261e;font-weight:700}
.scroll{overflow-x:auto;max-width:100%}
img{max-width:100%}
figure{margin:8px 0}
"""

# Click (or Enter on) a header: sort that column, numbers by value, text alphabetically, empty last.
SORT_SCRIPT = """
(function(){
function key(c){var v=c.getAttribute('data-v');return v===null?c.textContent:v;}
function cmp(a,b){if(a===b)return 0;if(a==='')return 1;if(b==='')return -1;
var x=parseFloat(a),y=parseFloat(b);if(!isNaN(x)&&!isNaN(y)&&String(x)!=='NaN')return x-y;
return a.localeCompare(b);}
function sort(th){var t=th.closest('table'),b=t.tBodies[0],i=th.cellIndex;
var asc=th.getAttribute('aria-sort')!=='ascending';
t.querySelectorAll('thead th').forEach(function(h){h.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',asc?'ascending':'descending');
var rows=Array.prototype.slice.call(b.rows);
rows.sort(function(r,s){var ka=key(r.cells[i]),kb=key(s.cells[i]);
if(ka==='')return kb===''?0:1;if(kb==='')return -1;var d=cmp(ka,kb);return asc?d:-d;});
rows.forEach(function(r){b.appendChild(r);});}
document.querySelectorAll('table.sortable thead th').forEach(function(th){
th.addEventListener('click',function(){sort(th);});
th.addEventListener('keydown',function(e){if(e.key==='Enter'){sort(th);}});});
})();
"""
