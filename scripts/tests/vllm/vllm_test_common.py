"""Shared helpers of the vLLM tests (python3 standard library only).

Reads the container's entry in the LXC config and works out the endpoint the way the vllm feature
script does: address from network_config.ip, port from vllm_engine_config.ServerConfig.port |
vllm_port | container side of ports[0] | 8000, served model name from ServerConfig.served_model_name
| vllm_served_model_name | the model.
"""
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

DEFAULT_PORT = 8000


def die(msg, code=1):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(code)


def lxc_config_path():
    if os.environ.get("PHOENIX_LXC_CONFIG"):
        return os.environ["PHOENIX_LXC_CONFIG"]
    base = os.environ.get("PHOENIX_BASE_DIR", "/usr/local/phoenix_hypervisor")
    hyp = os.environ.get("PHOENIX_CONFIG", f"{base}/etc/phoenix_hypervisor_config.json")
    try:
        with open(hyp, encoding="utf-8") as f:
            p = json.load(f).get("core_paths", {}).get("lxc_config_file")
            if p:
                return p
    except (OSError, ValueError):
        pass
    return f"{base}/etc/phoenix_lxc_configs.json"


class Endpoint:
    def __init__(self, ctid):
        if not re.fullmatch(r"[0-9]+", ctid or ""):
            die(f"usage: {os.path.basename(sys.argv[0])} <CTID>", 2)
        path = lxc_config_path()
        try:
            with open(path, encoding="utf-8") as f:
                entry = json.load(f)["lxc_configs"][ctid]
        except (OSError, ValueError, KeyError) as e:
            die(f"cannot read container {ctid} from {path}: {e}", 2)
        self.ctid = ctid
        eng = entry.get("vllm_engine_config") or {}
        server = eng.get("ServerConfig") or {}
        model_cfg = eng.get("ModelConfig") or {}
        ip = (entry.get("network_config") or {}).get("ip", "")
        self.host = ip.split("/")[0]
        if not re.fullmatch(r"[0-9.]+", self.host):
            die(f"container {ctid} has no static network_config.ip (got {ip!r})", 2)
        port = server.get("port") or entry.get("vllm_port")
        if not port and entry.get("ports"):
            port = str(entry["ports"][0]).split(":")[-1]
        self.port = int(port or DEFAULT_PORT)
        self.model = model_cfg.get("model") or entry.get("vllm_model") or ""
        self.served = server.get("served_model_name") or entry.get("vllm_served_model_name") or self.model
        args = entry.get("vllm_args") or []
        max_len = model_cfg.get("max_model_len") or entry.get("vllm_max_model_len")
        if "--max-model-len" in args:
            i = args.index("--max-model-len")
            if i + 1 < len(args):
                max_len = args[i + 1]
        self.max_model_len = int(max_len) if max_len else None
        kind = entry.get("vllm_model_type")
        if not kind:
            kind = "embedding" if "embed" in (self.model + self.served).lower() else "chat"
        self.kind = kind
        self.base = f"http://{self.host}:{self.port}"

    def request(self, path, body=None, timeout=60):
        """Return (status, parsed JSON or text, seconds)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data,
                                     headers={"Content-Type": "application/json"})
        start = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            die(f"{self.base}{path}: {e}")
        elapsed = time.monotonic() - start
        try:
            payload = json.loads(raw or b"null")
        except ValueError:
            payload = raw.decode(errors="replace")
        return status, payload, elapsed

    def inference(self, text, timeout=120):
        """One request of the model's kind with `text` as input."""
        if self.kind == "embedding":
            return self.request("/v1/embeddings", {"model": self.served, "input": text}, timeout)
        return self.request("/v1/chat/completions", {
            "model": self.served,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": 8,
            "temperature": 0,
        }, timeout)
