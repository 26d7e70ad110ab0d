// A GRIP origin written the way an app for a stock Pushpin is: @fanoutio/serve-grip's middleware
// on a plain node:http server, publishing with @fanoutio/grip's Publisher to the control URI.
// integration/test_grip_app.py runs it behind pushrelay's push_grip_proxy, the control URI naming
// pushrelay's push_grip_publish location; nothing in here knows it is not talking to Pushpin.
//
// Environment: GRIP_CONTROL_URI (the control URI), GRIP_KEY (Pushpin's sig key: the Publisher
// signs its publishes with it, and it is the key Grip-Sig is verified with, as Pushpin's
// `?iss=pushpin&key=...` GRIP URL sets up). Prints {"port": N} once listening on 127.0.0.1.
//
// Through the proxy (GET):
//   /hold/response?ch=A&ch=B&timeout=S&status=N   response hold; this answer is the timeout response
//   /hold/stream?ch=A&keepalive=TEXT|keepalive_b64=B64&keepalive_timeout=S   stream hold
//   /sig   what the libraries make of this request's Grip-Sig (JSON)
// Called by the test directly (POST, JSON body); each publishes one item with the Publisher:
//   /publish/response  {channel, code, reason, headers, body | body_b64, id, prev_id}
//   /publish/stream    {channel, content | content_b64 | close: true}
//   /publish/item      {channel, response: {...}, stream: {...}}   one Item, both formats
// A publish the control URI refuses answers 502 with the status and body the library saw.
import http from 'node:http';
import { ServeGrip } from '@fanoutio/serve-grip';
import {
    HttpResponseFormat, HttpStreamFormat, Item, PublishException, validateSig,
} from '@fanoutio/grip';

const KEY = process.env.GRIP_KEY;
const serveGrip = new ServeGrip({
    grip: { control_uri: process.env.GRIP_CONTROL_URI, control_iss: 'pushpin', key: KEY },
});
const publisher = serveGrip.getPublisher();

function reply(res, status, body, type = 'text/plain') {
    res.writeHead(status, { 'Content-Type': type });
    res.end(body);
}

function replyJson(res, value) {
    reply(res, 200, JSON.stringify(value) + '\n', 'application/json');
}

// Text, or bytes when the base64 form is given: the formats export a Buffer as body-bin /
// content-bin, and a keep-alive Buffer as format=base64.
function textOrBytes(text, base64) {
    return base64 != null ? Buffer.from(base64, 'base64') : text;
}

function gripSig(req) {
    return req.headers['grip-sig'];
}

// serve-grip 2.0.0 decides req.grip.isSigned with a bare `validateSig(...)` inside some(): the
// promise is truthy, so it calls any Grip-Sig signed. The verdict that counts is awaited here.
async function signedByProxy(req) {
    const token = gripSig(req);
    return token != null && (await validateSig(token, KEY));
}

async function holdResponse(req, res, query) {
    if (!(await signedByProxy(req))) {
        reply(res, 403, 'unsigned request\n');
        return;
    }
    const instruct = res.grip.startInstruct();
    instruct.addChannel(query.getAll('ch'));
    instruct.setHoldLongPoll(Number(query.get('timeout') ?? 0));
    res.statusCode = Number(query.get('status') ?? 200);
    res.setHeader('Content-Type', 'text/plain');
    res.setHeader('X-App', 'grip-app');
    res.end('timed out\n');
}

async function holdStream(req, res, query) {
    if (!(await signedByProxy(req))) {
        reply(res, 403, 'unsigned request\n');
        return;
    }
    const instruct = res.grip.startInstruct();
    instruct.addChannel(query.getAll('ch'));
    instruct.setHoldStream();
    const keepAlive = textOrBytes(query.get('keepalive'), query.get('keepalive_b64'));
    if (keepAlive != null) {
        instruct.setKeepAlive(keepAlive, Number(query.get('keepalive_timeout') ?? 55));
    }
    res.setHeader('Content-Type', 'text/plain');
    res.end('[stream open]\n');
}

async function reportSig(req, res) {
    const token = gripSig(req);
    replyJson(res, {
        present: token != null,
        validateSig: token != null && (await validateSig(token, KEY)),
        publisher: await publisher.validateGripSig(token),
        serveGrip: { isProxied: req.grip.isProxied, isSigned: req.grip.isSigned },
        originPort: req.socket.remotePort,
    });
}

function responseFormat(r) {
    return new HttpResponseFormat({
        code: r.code, reason: r.reason, headers: r.headers, body: textOrBytes(r.body, r.body_b64),
    });
}

function streamFormat(s) {
    return s.close ? new HttpStreamFormat(null, true)
        : new HttpStreamFormat(textOrBytes(s.content, s.content_b64));
}

const PUBLISHERS = {
    '/publish/response': (p) => publisher.publishHttpResponse(p.channel, responseFormat(p), p.id,
                                                              p.prev_id),
    '/publish/stream': (p) => publisher.publishHttpStream(p.channel, streamFormat(p), p.id,
                                                          p.prev_id),
    '/publish/item': (p) => publisher.publish(p.channel, new Item(
        [responseFormat(p.response), streamFormat(p.stream)], p.id, p.prev_id)),
};

async function readJson(req) {
    const chunks = [];
    for await (const chunk of req) {
        chunks.push(chunk);
    }
    return JSON.parse(Buffer.concat(chunks).toString());
}

async function publish(req, res, publishOne) {
    try {
        await publishOne(await readJson(req));
    } catch (e) {
        if (!(e instanceof PublishException)) {
            throw e;
        }
        const { statusCode, httpBody } = e.context;
        reply(res, 502, JSON.stringify({ statusCode, httpBody, message: e.message }) + '\n',
              'application/json');
        return;
    }
    reply(res, 200, 'published\n');
}

const HOLDS = { '/hold/response': holdResponse, '/hold/stream': holdStream };

async function route(req, res) {
    const url = new URL(req.url, 'http://app');
    if (req.method === 'POST' && PUBLISHERS[url.pathname]) {
        await publish(req, res, PUBLISHERS[url.pathname]);
    } else if (HOLDS[url.pathname]) {
        await HOLDS[url.pathname](req, res, url.searchParams);
    } else if (url.pathname === '/sig') {
        await reportSig(req, res);
    } else {
        reply(res, 404, `no route for ${req.method} ${url.pathname}\n`);
    }
}

const server = http.createServer((req, res) => {
    serveGrip(req, res, (err) => {
        const fail = (e) => reply(res, 500, `grip app: ${req.method} ${req.url}: ${e.stack ?? e}\n`);
        if (err) {
            fail(err);
            return;
        }
        route(req, res).catch(fail);
    });
});

server.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
