// A mailbox of hostile mail for the demo's browser test (test/web-demo/hostile.test.ts):
// every way an HTML message or an attachment has tried to run script, leave for the
// network, or move the page. Each script would report itself through CANARY_HOST (an
// image request, a fetch) and by marking the demo's <body>; the test counts both.

/** Any request to this host means a script ran. */
export const CANARY_HOST = "canary.invalid"
/** Remote content the mail points at; nothing may be fetched before "Load remote images". */
export const REMOTE_HOST = "remote.example"

/** What a script in the corpus does when it runs: report `where` every way it can. */
const canary = (where: string): string =>
  `new Image().src='https://${CANARY_HOST}/img-${where}';` +
  `fetch('https://${CANARY_HOST}/fetch-${where}').catch(function(){});` +
  `try{top.document.body.setAttribute('data-pwned','${where}')}catch(e){}` +
  `try{opener.document.body.setAttribute('data-pwned','${where}')}catch(e){}` +
  `document.title='PWNED ${where}'`

const r = `https://${REMOTE_HOST}`

const HTML = `<!doctype html>
<html><head>
<meta http-equiv="refresh" content="0;url=${r}/meta-refresh">
<base href="${r}/base/">
<link rel="stylesheet" href="${r}/link.css">
<style>
@import url(${r}/import-url.css);
@import "${r}/import-string.css";
body { background: url(${r}/css-background.png) }
.x { background-image: url('//${REMOTE_HOST}/protocol-relative.png') }
</style>
<script>${canary("script")}</script>
</head>
<body background="${r}/body-background.png">
<h1>Hostile HTML</h1>
<img src="x" onerror="${canary("onerror")}" alt="broken">
<img src="${r}/remote.png" alt="remote image">
<img srcset="${r}/srcset-1x.png 1x, ${r}/srcset-2x.png 2x" alt="srcset">
<picture><source srcset="${r}/picture-source.png"><img alt="picture"></picture>
<p><a id="js-link" href="javascript:${canary("javascript-link")}">a javascript: link</a></p>
<p><a id="data-link" href="data:text/html,&lt;script&gt;${encodeURIComponent(canary("data-link"))}&lt;/script&gt;">a data: link</a></p>
<p><a id="relative-link" href="relative/page.html">a link the base would re-base</a></p>
<form action="${r}/form" method="post"><input name="q" value="x"><button id="form-submit" type="submit">Send the form</button></form>
<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><script>${canary("svg-script")}</script><image href="${r}/svg-image.png" width="10" height="10"/><a href="javascript:${canary("svg-link")}"><text y="15">svg link</text></a></svg>
<iframe src="${r}/iframe.html"></iframe>
<object data="${r}/object.html"></object>
<embed src="${r}/embed.html">
<video poster="${r}/video-poster.png"></video>
<div class="x" style="background:url(${r}/inline-style.png)">styled</div>
<p id="click-me" onclick="${canary("onclick")}">click me</p>
<p>The end of the hostile HTML.</p>
</body></html>`

const HTML_ATTACHMENT = `<!doctype html><html><body><h1>evil.html</h1><script>${canary("html-attachment")}</script></body></html>`
const SVG_ATTACHMENT = `<svg xmlns="http://www.w3.org/2000/svg" onload="${canary("svg-attachment-onload")}"><script>${canary("svg-attachment")}</script><rect width="10" height="10"/></svg>`

const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64").replace(/.{76}/g, "$&\r\n")
const crlf = (text: string): string => text.replace(/\r?\n/g, "\r\n")

const head = (subject: string, contentType: string): string =>
  `From: Mallory <mallory@evil.example>\nTo: Demo User <demo@example.com>\nSubject: ${subject}\nDate: Mon, 02 Nov 2026 10:00:00 +0000\nMessage-ID: <${subject.replace(/\W/g, "-")}@evil.example>\nMIME-Version: 1.0\nContent-Type: ${contentType}\n`

/** The hostile mailbox: 1 the HTML, 2 the attachments. */
export const hostileMessages = (): Array<string> => [
  crlf(`${head("Hostile HTML", "text/html; charset=utf-8")}Content-Transfer-Encoding: base64\n\n`) + b64(HTML) + "\r\n",
  crlf(`${head("Hostile attachments", 'multipart/mixed; boundary="evil"')}
--evil
Content-Type: text/plain; charset=utf-8

Two attachments that would run script if shown as pages.
--evil
Content-Type: text/html; charset=utf-8; name="evil.html"
Content-Disposition: attachment; filename="evil.html"
Content-Transfer-Encoding: base64

`) +
    b64(HTML_ATTACHMENT) +
    crlf(`
--evil
Content-Type: image/svg+xml; name="evil.svg"
Content-Disposition: attachment; filename="evil.svg"
Content-Transfer-Encoding: base64

`) +
    b64(SVG_ATTACHMENT) +
    crlf(`
--evil--
`)
]
