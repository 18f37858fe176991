#!/usr/bin/env python3
"""Write a CLIP tokenizer folder (vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json) with the
real 49,408-token CLIP vocabulary, built from OpenAI's BPE list exactly as CLIP's simple_tokenizer.py does.
Usage: make_tokenizer.py bpe_simple_vocab_16e6.txt.gz OUT_DIR"""
import gzip, json, os, sys


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


src, out = sys.argv[1], sys.argv[2]
merges = gzip.open(src).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
merges = [tuple(m.split()) for m in merges]
vocab = list(bytes_to_unicode().values())
vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
assert len(vocab) == 49408, len(vocab)
os.makedirs(out, exist_ok=True)
json.dump({t: i for i, t in enumerate(vocab)}, open(f"{out}/vocab.json", "w"), ensure_ascii=False)
with open(f"{out}/merges.txt", "w", encoding="utf-8") as f:
    f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
specials = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>"}
json.dump(dict(specials, model_max_length=77, tokenizer_class="CLIPTokenizer", do_lower_case=True),
          open(f"{out}/tokenizer_config.json", "w"), indent=2)
json.dump(specials, open(f"{out}/special_tokens_map.json", "w"), indent=2)
print("vocab", len(vocab), "merges", len(merges))
