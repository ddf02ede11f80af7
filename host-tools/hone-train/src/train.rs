//! The recipe: vocabulary, model2vec-style initialisation, distillation + supervised training,
//! evaluation and checkpoint writing.

use crate::data::{Dataset, Example};
use crate::eval::{self, EnrolCfg, HeadCfg, Report, Split};
use crate::student::{cosine_loss, pca, randn_var, Batch, Student};
use crate::teacher::{l2_normalize, progress, Teacher};
use crate::vocab::{self, Vocab};
use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::{seq::SliceRandom, SeedableRng};
use serde::Serialize;
use tokenizers::Tokenizer;

/// Cached teacher embeddings: `(name, key texts, explicit teacher id sequences or None to
/// tokenise the texts)` → rows.
pub type Embedder<'a> =
    dyn FnMut(&str, &[String], Option<Vec<Vec<u32>>>) -> Result<Vec<Vec<f32>>> + 'a;

/// Settings of one training run.
#[derive(Clone, Debug, Serialize)]
pub struct TrainCfg {
    /// Vocabulary size (including specials).
    pub vocab: usize,
    /// Token embedding width.
    pub dim: usize,
    /// MLP widths after pooling (ReLU).
    pub mlp: Vec<usize>,
    /// Training epochs over the distillation set.
    pub epochs: usize,
    /// Batch size.
    pub batch: usize,
    /// Learning rate (Adam).
    pub lr: f64,
    /// Weight of the supervised NLL term (0 = distillation only).
    pub nll_weight: f64,
    /// Maximum tokens per training sentence.
    pub train_max_len: usize,
    /// Maximum tokens per prompt on the device.
    pub max_len: usize,
    /// Seed.
    pub seed: u64,
    /// Smoke mode: small subsets.
    pub smoke: bool,
}

/// Everything a run produces.
pub struct Trained {
    /// The pruned vocabulary.
    pub vocab: Vocab,
    /// Its tokenizer (JSON).
    pub tokenizer_json: serde_json::Value,
    /// The student.
    pub student: Student,
    /// Pre-training intents (names), the head's rows.
    pub labels: Vec<String>,
    /// The 135-intent head.
    pub head: eval::Head,
}

/// Tokenise with `tok` (no special tokens), truncated to `max`.
pub fn encode_all(tok: &Tokenizer, texts: &[String], max: usize) -> Result<Vec<Vec<u32>>> {
    texts
        .iter()
        .map(|t| {
            let e = tok
                .encode(t.as_str(), false)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut ids = e.get_ids().to_vec();
            ids.truncate(max);
            Ok(ids)
        })
        .collect()
}

/// Pick up to `n` examples per intent (deterministic: the first ones in file order).
fn per_intent(ex: &[Example], n: usize) -> Vec<Example> {
    let mut seen = std::collections::HashMap::new();
    ex.iter()
        .filter(|e| {
            let c = seen.entry(e.label).or_insert(0usize);
            *c += 1;
            *c <= n
        })
        .cloned()
        .collect()
}

/// Run the recipe. `embed` returns (cached) teacher sentence embeddings of texts under a name.
pub fn train(
    data: &Dataset,
    teacher: &Teacher,
    enrol_domain: &str,
    cfg: &TrainCfg,
    embed: &mut Embedder<'_>,
    teacher_json: &str,
) -> Result<Trained> {
    let held_out = data.domain_intents(enrol_domain);
    let pre: Vec<usize> = (0..data.intents.len())
        .filter(|c| !held_out.contains(c))
        .collect();
    let mut remap = vec![u32::MAX; data.intents.len()];
    for (i, &c) in pre.iter().enumerate() {
        remap[c] = i as u32;
    }
    // Pre-training prompts: train split of the pre-training domains only.
    let mut prompts: Vec<Example> = data
        .train
        .iter()
        .filter(|e| remap[e.label] != u32::MAX)
        .cloned()
        .collect();
    let mut wiki = data.wiki.clone();
    let mut oos = data.oos_train.clone();
    if cfg.smoke {
        prompts = per_intent(&prompts, 10);
        wiki.truncate(300);
        oos.truncate(20);
    }
    let prompt_texts: Vec<String> = prompts.iter().map(|e| e.text.clone()).collect();
    let mut corpus = wiki.clone();
    corpus.extend(prompt_texts.iter().cloned());
    corpus.extend(oos.iter().cloned());

    let vocab = vocab::prune(&teacher.tokenizer, &corpus, cfg.vocab)?;
    let tokenizer_json = vocab.tokenizer_json(teacher_json)?;
    let tok = Tokenizer::from_bytes(serde_json::to_vec(&tokenizer_json)?)
        .map_err(|e| anyhow::anyhow!("student tokenizer: {e}"))?;
    eprintln!(
        "vocabulary: {} tokens, {} string bytes",
        vocab.len(),
        vocab.string_bytes()
    );

    // model2vec-style initialisation: the teacher's output for each token alone, PCA to d.
    let cls = teacher.tokenizer.token_to_id("[CLS]").context("[CLS]")?;
    let sep = teacher.tokenizer.token_to_id("[SEP]").context("[SEP]")?;
    let tok_seqs: Vec<Vec<u32>> = vocab
        .teacher_ids
        .iter()
        .map(|&t| vec![cls, t, sep])
        .collect();
    let tok_emb = embed("tokens", &vocab.tokens, Some(tok_seqs))?;
    let init = pca(&eval::to_tensor(&tok_emb)?, cfg.dim, cfg.seed)?;
    let mut rows = init.to_vec2::<f32>()?;
    rows[0].iter_mut().for_each(|v| *v = 0.0); // [PAD]
    let init = eval::to_tensor(&rows)?;
    let student = Student::new(init, &cfg.mlp, cfg.seed)?;

    // Distillation set: teacher embeddings of wiki + pre-training prompts + oos_train.
    let targets = embed("distil", &corpus, None)?;
    let seqs = encode_all(&tok, &corpus, cfg.train_max_len)?;
    let keep: Vec<usize> = (0..seqs.len()).filter(|&i| !seqs[i].is_empty()).collect();
    let n_wiki = wiki.len();
    let labels_of = |i: usize| -> Option<u32> {
        (i >= n_wiki && i < n_wiki + prompts.len()).then(|| remap[prompts[i - n_wiki].label])
    };

    let f = student.feature_size()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed ^ 0x5eed);
    let proj = randn_var(&mut rng, targets[0].len(), f, (1.0 / f as f32).sqrt())?;
    let head_w = Var::zeros((pre.len(), f), DType::F32, &Device::Cpu)?;
    let head_b = Var::zeros(pre.len(), DType::F32, &Device::Cpu)?;
    let mut vars = student.vars();
    vars.extend([proj.clone(), head_w.clone(), head_b.clone()]);
    let params = ParamsAdamW {
        lr: cfg.lr,
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = AdamW::new(vars, params)?;
    let steps_per_epoch = keep.len().div_ceil(cfg.batch);
    let mut pb = progress((cfg.epochs * steps_per_epoch) as u64, "distil");
    let total = (cfg.epochs * steps_per_epoch) as f64;
    let mut step = 0usize;
    let mut order = keep.clone();
    for _epoch in 0..cfg.epochs {
        order.shuffle(&mut rng);
        let mut last = 0.0;
        for chunk in order.chunks(cfg.batch) {
            // Cosine learning-rate decay to 10 %.
            let frac = step as f64 / total;
            opt.set_learning_rate(
                cfg.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos())),
            );
            let refs: Vec<&[u32]> = chunk.iter().map(|&i| seqs[i].as_slice()).collect();
            let feat = student.forward(&Batch::new(&refs)?)?;
            let t_rows: Vec<Vec<f32>> = chunk.iter().map(|&i| targets[i].clone()).collect();
            let t = eval::to_tensor(&t_rows)?;
            let mut loss = cosine_loss(&feat.matmul(&proj.as_tensor().t()?)?, &t)?;
            let lab: Vec<(usize, u32)> = chunk
                .iter()
                .enumerate()
                .filter_map(|(r, &i)| labels_of(i).map(|y| (r, y)))
                .collect();
            if cfg.nll_weight > 0.0 && !lab.is_empty() {
                let rows = Tensor::new(
                    lab.iter().map(|p| p.0 as u32).collect::<Vec<_>>(),
                    &Device::Cpu,
                )?;
                let y = Tensor::new(lab.iter().map(|p| p.1).collect::<Vec<_>>(), &Device::Cpu)?;
                let fx = l2_normalize(&feat.index_select(&rows, 0)?)?;
                let logits = fx
                    .matmul(&head_w.as_tensor().t()?)?
                    .broadcast_add(head_b.as_tensor())?;
                let nll = candle_nn::loss::cross_entropy(&logits, &y)?;
                loss = (loss + (nll * cfg.nll_weight)?)?;
            }
            opt.backward_step(&loss)?;
            last = loss.to_scalar::<f32>()?;
            step += 1;
            pb.inc(1);
        }
        pb.set_message(format!("loss {last:.4}"));
    }
    pb.finish();

    // The shipped 135-intent head: the protocol's head on the pre-training prompts.
    let pseqs = encode_all(&tok, &prompt_texts, cfg.max_len)?;
    let px = eval::to_tensor(&student.features(&pseqs)?)?;
    let py: Vec<u32> = prompts.iter().map(|e| remap[e.label]).collect();
    let head = eval::train_head(&px, &py, pre.len(), HeadCfg::default())?;
    let labels = pre.iter().map(|&c| data.intents[c].clone()).collect();
    Ok(Trained {
        vocab,
        tokenizer_json,
        student,
        labels,
        head,
    })
}

impl Trained {
    /// Student tokenizer.
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        Tokenizer::from_bytes(serde_json::to_vec(&self.tokenizer_json)?)
            .map_err(|e| anyhow::anyhow!("student tokenizer: {e}"))
    }

    /// Evaluate with the protocol on `split` ("val" or "test").
    pub fn evaluate(
        &self,
        data: &Dataset,
        split: &[Example],
        enrol_domain: &str,
        max_len: usize,
        seeds: u64,
        enrol_cfg: EnrolCfg,
    ) -> Result<Report> {
        let tok = self.tokenizer()?;
        let feats = |ex: &[Example]| -> Result<Split> {
            let texts: Vec<String> = ex.iter().map(|e| e.text.clone()).collect();
            let f = self.student.features(&encode_all(&tok, &texts, max_len)?)?;
            Split::new(&f, ex.iter().map(|e| e.label as u32).collect())
        };
        let tr = feats(&data.train)?;
        let ev = feats(split)?;
        eval::evaluate(
            data,
            &tr,
            &ev,
            enrol_domain,
            HeadCfg::default(),
            enrol_cfg,
            seeds,
        )
    }
}
