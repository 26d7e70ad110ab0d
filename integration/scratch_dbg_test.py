import requests, re, time
from test_redis_nodes import nodes, node_factory, channel, posted, get, message, since  # noqa

def status(node):
    t = requests.get(node.base_pub + "/status", timeout=5).text
    return dict(re.findall(r"(Cache hits|Cache misses|Redis channels|Redis recovered|Redis resyncs): (\d+)", t))

def test_single(nodes, redis):
    a, b, c = nodes
    ch = channel()
    posted(a, ch, b"m0")
    last = message(get(a, ch), b"m0")
    for i in range(40):
        import threading
        box = {}
        def sub():
            try:
                box["r"] = requests.get(a.sub_url(ch), headers=since(last), timeout=3)
            except requests.RequestException as e:
                box["e"] = e
        t = threading.Thread(target=sub); t.start()
        time.sleep(0.005 * (i % 4))
        pr = posted(nodes[i % 3], ch, f"p{i}".encode())
        t.join()
        if "e" in box:
            s0 = status(a)
            try:
                again = requests.get(a.sub_url(ch), headers=since(last), timeout=3)
                again = (again.status_code, again.content)
            except requests.RequestException:
                again = "no answer in 3s"
            sk = [k for k in redis.cli("KEYS", "*") if ch in k and k.endswith(":m")][0]
            ik = [k for k in redis.cli("KEYS", "*") if ch in k and k.endswith(":i")]
            print("\npost answer", pr.status_code, pr.headers, pr.text.replace("\r\n", "|"), "idem zset", ik and redis.cli("ZRANGE", ik[0], 0, -1, "WITHSCORES"))
            print("\nsince", since(last), "stream tail", [(e[0], e[1][3]) for e in redis.cli("XRANGE", sk, "-", "+")][-3:])
            try:
                onb = requests.get(b.sub_url(ch), headers=since(last), timeout=3)
                onb = (onb.status_code, onb.content, onb.headers.get("Last-Modified"), onb.headers.get("Etag"))
            except requests.RequestException:
                onb = "no answer in 3s"
            print(f"\nmissed p{i} (published via node {i%3}); status {s0}; GET again on A ->", again, status(a), "on B ->", onb)
            return
        last = box["r"]
        assert last.content == f"p{i}".encode(), last.content
    print("\nno miss in 40")
