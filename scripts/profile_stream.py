"""Where does streaming cost time? Times plain generate against generate with our streamer, our
stopping criteria, in a worker thread, and the full backend stream (same weights, interleaved).
`python scripts/profile_stream.py` (CPU or CUDA: the backend picks the device)."""
import sys, time, statistics, tempfile, threading, json
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pathlib import Path
import torch
sys.argv = ["x"]
import importlib.util
spec = importlib.util.spec_from_file_location("g", str(Path(__file__).resolve().parent / "gpu_check.py")); g = importlib.util.module_from_spec(spec); spec.loader.exec_module(g)
from tutor.backends.hf import TransformersBackend
from tutor.backends.hf_stream import _lazy_classes
from tutor.config import ModelConfig
from tutor.types import GenerationParams, GenerationRequest, Message
from transformers import StoppingCriteriaList
tmp = Path(tempfile.mkdtemp()); md = g.build_model(tmp / "m")
be = TransformersBackend(ModelConfig(base_model=str(md), adapters_dir=tmp/"none"), tmp/"c"); be.load()
st = be._ensure_loaded(); tok, model = st.tokenizer, st.model
msgs = (Message("system", "you are a tutor"), Message("user", "what is a vector " * 40))
N = 64
req = GenerationRequest(msgs, GenerationParams(max_new_tokens=N))
prompt = tok.apply_chat_template([{"role": m.role, "content": m.content} for m in msgs], add_generation_prompt=True, tokenize=False)
enc = tok(prompt, add_special_tokens=False, return_tensors="pt").to(st.device)
CS, SC = _lazy_classes()
def plain():
    with torch.inference_mode(): model.generate(**enc, max_new_tokens=N, do_sample=False, pad_token_id=st.pad_id)
def plain_nograd():
    model.generate(**enc, max_new_tokens=N, do_sample=False, pad_token_id=st.pad_id)
def with_streamer():
    s = CS(tok, skip_prompt=True, skip_special_tokens=True)
    model.generate(**enc, max_new_tokens=N, do_sample=False, pad_token_id=st.pad_id, streamer=s)
def with_criteria():
    c = SC(tok, enc["input_ids"].shape[1], (), threading.Event())
    model.generate(**enc, max_new_tokens=N, do_sample=False, pad_token_id=st.pad_id, stopping_criteria=StoppingCriteriaList([c]))
def in_thread():
    t = threading.Thread(target=plain_nograd); t.start(); t.join()
import concurrent.futures as cf
_pool = cf.ThreadPoolExecutor(1)
def in_pool():
    _pool.submit(plain_nograd).result()
NT = torch.get_num_threads()
def in_thread_setthreads():
    def w():
        torch.set_num_threads(NT)
        plain_nograd()
    t = threading.Thread(target=w); t.start(); t.join()
def in_thread_inference():
    t = threading.Thread(target=plain); t.start(); t.join()
def ours():
    for _ in be.stream(req): pass
fns = dict(plain=plain, plain_nograd=plain_nograd, with_streamer=with_streamer, with_criteria=with_criteria,
           in_thread=in_thread, in_pool=in_pool, in_thread_setthreads=in_thread_setthreads,
           in_thread_inference=in_thread_inference, ours=ours)
print("torch threads", NT, "device", st.device)
for f in fns.values(): f()
res = {k: [] for k in fns}
for r in range(4):
    for k, f in fns.items():
        t0 = time.perf_counter(); f(); res[k].append(time.perf_counter() - t0)
base = statistics.median(res["plain"])
for k, v in res.items(): print(f"{k:22s} {statistics.median(v):.3f}s  x{statistics.median(v)/base:.3f}")
