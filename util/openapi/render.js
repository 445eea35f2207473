// util/openapi.sh render: headless Chromium (playwright-core driving the
// system's chromium) opens docs/api.html as a file, with no network, and
// checks what Redoc's script renders in the page, not the HTML as built:
// Redoc prerenders only the overview and its menu, so an operation, its
// path and its schema are in the DOM only when the script ran.
//
//   node render.js API_HTML OPENAPI_JSON
//
// CHROMIUM: the browser (default /usr/bin/chromium, Debian's chromium);
// RENDER_TIMEOUT: milliseconds for each wait (default 60000: the page
// takes seconds to hydrate on a loaded machine).
//
// Fails (exit 1, one line saying why) when the page throws or logs an
// error, attempts any request other than to the file itself, is not
// hydrated by Redoc's script, or does not show the document's title and
// version, every tag in the menu, GET /contacts (its summary, its path)
// once the menu is clicked, and the Contact schema's email property in the
// response of GET /contacts/{id}.

'use strict';

const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const { chromium } = require('playwright-core');

const [htmlFile, docFile] = process.argv.slice(2);
const exe = process.env.CHROMIUM || '/usr/bin/chromium';
const timeout = Number(process.env.RENDER_TIMEOUT || 60000);
const within = `within ${timeout / 1000} s`;

if (!htmlFile || !docFile) {
    console.error('usage: node render.js API_HTML OPENAPI_JSON');
    process.exit(2);
}

const doc = JSON.parse(fs.readFileSync(docFile, 'utf8'));
const url = pathToFileURL(path.resolve(htmlFile)).href;

// what the page must show, from the document itself
const tags = doc.tags.map((t) => t.name);
const list = doc.paths['/contacts'].get;
const get = doc.paths['/contacts/{id}'].get;
const contacts = [];

for (const p of Object.keys(doc.paths)) {
    for (const m of Object.keys(doc.paths[p])) {
        const op = doc.paths[p][m];
        if (op.tags && op.tags.includes('contacts')) {
            contacts.push(op.summary);
        }
    }
}

const email = doc.components.schemas.Contact.properties.email;

const problems = [];
const external = [];

function fail(msg) {
    const err = new Error(msg);
    err.render = true;
    throw err;
}

// the text of the element, without the zero-width spaces Redoc puts
// between a property's path and its name (data.<ZWSP>email)
const text = (s) => s.replace(/\u200b/g, '').trim();

const MENU = '#redoc [data-component-name="Menu/MenuItem"] > a';

// the menu's items: their link and their label's first line (an
// operation's label is its summary, then its method)
async function menuItems(page) {
    return (await page.$$eval(MENU, (as) => as.map((a) => ({
        href: a.getAttribute('href'),
        label: (a.querySelector('[data-testid="menu-item-label"]')
                || a).innerText.split('\n')[0],
    })))).map((i) => ({ href: i.href, label: text(i.label) }));
}

// the menu has an item for each of these labels, within the timeout
async function menuHas(page, want, what) {
    try {
        await page.waitForFunction(([sel, w]) => {
            const l = [...document.querySelectorAll(sel)].map((a) =>
                (a.querySelector('[data-testid="menu-item-label"]') || a)
                    .innerText.split('\n')[0].replace(/\u200b/g, '').trim());
            return w.every((s) => l.includes(s));
        }, [MENU, want], { timeout });
    } catch (e) {
        const l = (await menuItems(page)).map((i) => i.label);
        fail(`${what} not in the menu ${within}: `
             + want.filter((s) => !l.includes(s)).join(', '));
    }
}

// a click on a menu item: the router shows its section (the URL's new
// fragment names it) without leaving the file
async function open(page, label) {
    const before = page.url();
    const items = await menuItems(page);
    const item = items.find((i) => i.label === label);
    if (!item) {
        fail(`the menu has no "${label}" (it has: `
             + items.map((i) => i.label).join(', ') + ')');
    }
    await page.locator(MENU).nth(items.indexOf(item)).click();
    try {
        await page.waitForFunction(([u, b]) => location.href !== b
                                   && location.href.startsWith(u + '#/'),
                                   [url, before], { timeout });
    } catch (e) {
        fail(`a click on "${label}" did not route in the page ${within}`
             + ` (now at ${page.url()})`);
    }
    const id = decodeURIComponent(new URL(page.url()).hash.slice(1));
    const section = page.locator(`[data-section-id=${JSON.stringify(id)}]`)
        .first();
    try {
        await section.waitFor({ state: 'visible', timeout });
    } catch (e) {
        fail(`no section ${id} ${within} of a click on "${label}"`);
    }
    return section;
}

// the section shows every one of these lines of text, within the
// timeout (Redoc renders a section's schemas after the section itself);
// innerText: what is rendered, not what is hidden
async function shows(page, section, want, what) {
    const el = await section.elementHandle();
    try {
        await page.waitForFunction(([e, w]) => {
            const l = e.innerText.split('\n')
                .map((s) => s.replace(/\u200b/g, '').trim());
            return w.every((s) => l.includes(s));
        }, [el, want], { timeout });
    } catch (e) {
        const l = (await el.innerText()).split('\n').map(text);
        fail(`${what}'s section does not show, ${within}, "`
             + want.filter((s) => !l.includes(s)).join('", "') + '"');
    }
}

async function check(page) {
    await page.goto(url, { waitUntil: 'load', timeout });

    // Redoc hydrates the prerendered page: React marks each element it
    // took over with __reactProps$...; until then a click on the menu
    // is a plain link to another file
    try {
        await page.waitForFunction((sel) => {
            const a = document.querySelector(sel);
            return a && Object.keys(a).some(
                (k) => k.startsWith('__reactProps$'));
        }, MENU, { timeout });
    } catch (e) {
        fail(`Redoc's script did not take over the page ${within}`);
    }

    const title = await page.title();
    if (title !== doc.info.title) {
        fail(`the page's title is "${title}", not "${doc.info.title}"`);
    }

    const h1 = text(await page.locator('#redoc h1').first().innerText());
    const rest = h1.replace(doc.info.title, '');
    if (!h1.includes(doc.info.title)
        || !rest.split(/[\s()]+/).includes(doc.info.version)) {
        fail(`the heading "${h1}" is not the document's title`
             + ` "${doc.info.title}" and version ${doc.info.version}`);
    }

    await menuHas(page, tags, 'tags');

    // GET /contacts: the tag's operations in the menu once it is open,
    // the operation's section with its summary, method and path
    await open(page, 'contacts');
    await menuHas(page, contacts, 'operations of contacts');

    let section = await open(page, list.summary);
    await shows(page, section, [list.summary, 'GET', '/contacts'],
                'GET /contacts');

    // the Contact schema, in the response of GET /contacts/{id}: the
    // record is {"data": Contact, "meta"}
    section = await open(page, get.summary);
    await shows(page, section, ['/contacts/{id}', '(Contact)', 'data.email',
                                email.description], 'GET /contacts/{id}');

    return { ops: contacts.length };
}

(async () => {
    const t0 = Date.now();
    let browser, result, version;

    try {
        browser = await chromium.launch({
            executablePath: exe,
            timeout,
            args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                   // nothing resolves: no request leaves the machine
                   '--host-resolver-rules=MAP * ~NOTFOUND'],
        });
    } catch (e) {
        console.error(`render: cannot start ${exe}: `
                      + e.message.split('\n')[0]);
        process.exit(1);
    }
    version = browser.version();

    try {
        const context = await browser.newContext({ serviceWorkers: 'block' });
        const page = await context.newPage();

        // an uncaught error of the page's script ends the check at once
        // (it would else wait for what the script no longer renders)
        const thrown = new Promise((_, reject) => {
            page.on('pageerror', (e) => {
                const err = new Error('the page threw: ' + e.message);
                err.render = true;
                reject(err);
            });
        });
        page.on('console', (m) => {
            if (m.type() === 'error') {
                problems.push('console error: ' + m.text());
            }
        });
        page.on('websocket', (ws) => external.push(ws.url()));

        // the file itself, nothing else (data: URLs are not requests)
        await context.route('**/*', (route) => {
            const u = route.request().url();
            if (u === url || u.startsWith(url + '#')) {
                return route.continue();
            }
            external.push(u);
            return route.abort('blockedbyclient');
        });

        const checked = check(page);
        checked.catch(() => {});
        result = await Promise.race([checked, thrown]);
    } catch (e) {
        problems.unshift(e.render ? e.message : 'render: ' + e.message);
    } finally {
        await browser.close().catch(() => {});
    }

    if (external.length) {
        problems.unshift('the page requested URLs other than itself: '
                         + [...new Set(external)].join(' '));
    }

    if (problems.length) {
        for (const p of problems.slice(0, 10)) {
            console.error('render: ' + p.split('\n')[0].slice(0, 300));
        }
        process.exit(1);
    }

    console.log(`render: headless Chromium ${version}`
                + ` (${((Date.now() - t0) / 1000).toFixed(1)} s, no network):`
                + ` Redoc shows "${doc.info.title}" ${doc.info.version},`
                + ` the ${tags.length} tags in the menu, the ${result.ops}`
                + ' operations of contacts, GET /contacts and the Contact'
                + ' schema');
})();
