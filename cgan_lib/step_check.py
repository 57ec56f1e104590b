"""A checker for a training step written by the reader (chapter 4).

    def my_step(G, D, opt_g, opt_d, x, z):
        ...                              # one D update, then one G update
    print(check_step(my_step))

The reader's step and the library's `train.train_step` start from the same weights,
optimiser states and batches of real MNIST digits, and the reader's step receives the
very latents `z` that the library's step draws. After 1 and after 10 steps every
parameter of G and D must agree to `tol`, 1e-5. A correct step written with the same
operations agrees exactly; one written differently (BCE with targets, one forward pass
for real and fake together) differs by float32 rounding, which Adam amplifies for the
few weights whose gradient is near zero: up to about 3e-7 in the tests. A mistake moves
weights by about the learning rate, 2e-4, from the first step it bites.

When they differ, the checker names the mistake. It watches the two optimisers while
the reader's step runs (how often each one steps, whether G held gradients from D's
loss when D stepped) and it runs each classic mistake in `MISTAKES` the same way: a
mistake whose weights match the reader's to `tol` explains them.
"""

from __future__ import annotations

import functools
import textwrap
from dataclasses import dataclass, field

import torch

from .data import load_mnist, to_signed
from .errors import BadInput, check_range
from .losses import discriminator_loss, non_saturating_loss, saturating_loss
from .run import TrainConfig, new_run
from .train import train_step

# A small MLP GAN on the CPU: the checker's 11 runs of 10 steps take about a second.
CHECK_CONFIG = dict(model="mlp", model_kwargs={"width": 64}, batch_size=32, seed=0)


# The classic mistakes, each written out as a complete step with the reader's signature.
# Each differs from a correct step in the lines marked "mistake".


def no_detach(G, D, opt_g, opt_d, x, z):
    opt_d.zero_grad()
    opt_g.zero_grad()  # both players zeroed up front, a common pattern
    d_loss = discriminator_loss(D(x), D(G(z)))  # mistake: no .detach()
    d_loss.backward()  # ... so this also fills G's gradients
    opt_d.step()
    g_loss = non_saturating_loss(D(G(z)))
    g_loss.backward()  # G's gradients now hold both losses
    opt_g.step()


def no_zero_grad(G, D, opt_g, opt_d, x, z):
    fake = G(z)
    d_loss = discriminator_loss(D(x), D(fake.detach()))
    d_loss.backward()  # mistake: no opt_d.zero_grad(), gradients pile up over steps
    opt_d.step()
    g_loss = non_saturating_loss(D(fake))
    g_loss.backward()  # mistake: no opt_g.zero_grad() either
    opt_g.step()


def no_zero_grad_d(G, D, opt_g, opt_d, x, z):
    fake = G(z)
    d_loss = discriminator_loss(D(x), D(fake.detach()))
    d_loss.backward()  # mistake: no opt_d.zero_grad()
    opt_d.step()
    opt_g.zero_grad()
    non_saturating_loss(D(fake)).backward()
    opt_g.step()


def no_zero_grad_g(G, D, opt_g, opt_d, x, z):
    fake = G(z)
    opt_d.zero_grad()
    discriminator_loss(D(x), D(fake.detach())).backward()
    opt_d.step()
    g_loss = non_saturating_loss(D(fake))
    g_loss.backward()  # mistake: no opt_g.zero_grad()
    opt_g.step()


def swapped_targets(G, D, opt_g, opt_d, x, z):
    fake = G(z)
    opt_d.zero_grad()
    d_loss = discriminator_loss(D(fake.detach()), D(x))  # mistake: fakes called real
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad()
    non_saturating_loss(D(fake)).backward()
    opt_g.step()


def g_stepped_by_d_optimizer(G, D, opt_g, opt_d, x, z):
    fake = G(z)
    opt_d.zero_grad()
    discriminator_loss(D(x), D(fake.detach())).backward()
    opt_d.step()
    opt_g.zero_grad()
    non_saturating_loss(D(fake)).backward()
    opt_d.step()  # mistake: D's optimiser again; G never moves


def saturating_by_mistake(G, D, opt_g, opt_d, x, z):
    fake = G(z)
    opt_d.zero_grad()
    discriminator_loss(D(x), D(fake.detach())).backward()
    opt_d.step()
    opt_g.zero_grad()
    saturating_loss(D(fake)).backward()  # mistake: log(1 - D(G(z))), the minimax loss
    opt_g.step()


MISTAKES = {
    "no detach": (
        no_detach,
        "G received gradients from D's loss: the fakes went into D's loss without "
        "fake.detach(), and G's gradients were not cleared before its own backward.",
    ),
    "no zero_grad": (
        no_zero_grad,
        "gradients piled up over steps: neither optimiser's zero_grad() was called, "
        "so each backward() adds to the previous steps' gradients.",
    ),
    "no zero_grad for D": (
        no_zero_grad_d,
        "D's gradients piled up over steps: opt_d.zero_grad() is missing.",
    ),
    "no zero_grad for G": (
        no_zero_grad_g,
        "G's gradients piled up over steps: opt_g.zero_grad() is missing.",
    ),
    "swapped targets": (
        swapped_targets,
        "D was trained to call the fakes real and the real digits fake: the two "
        "arguments of discriminator_loss are swapped.",
    ),
    "G stepped by D's optimiser": (
        g_stepped_by_d_optimizer,
        "the generator step called opt_d.step(): D moved twice and G never moved.",
    ),
    "saturating loss": (
        saturating_by_mistake,
        "the generator minimised log(1 - D(G(z))) (saturating_loss), not "
        "-log D(G(z)) (non_saturating_loss).",
    ),
}


@dataclass
class StepReport:
    """What check_step found; print it for a readable verdict."""

    passed: bool
    max_diff: dict = field(default_factory=dict)  # {steps: largest |difference|}
    mistake: str | None = None  # a name from MISTAKES, when one explains the weights
    explanation: str = ""
    hints: list = field(default_factory=list)  # what the optimiser watch saw
    error: str | None = None  # the exception the step raised, if any

    def __str__(self) -> str:
        if self.error:
            lines = [f"Your step raised an error: {self.error}"]
        else:
            diffs = ", ".join(
                f"after {n} step{'s' * (n > 1)}: {d:.1e}"
                for n, d in self.max_diff.items()
            )
            verdict = "PASSED" if self.passed else "FAILED"
            lines = [f"{verdict}. Largest weight difference from the library's step"]
            lines.append(f"  {diffs}")
        if self.mistake:
            lines.append(f"Diagnosis, {self.mistake}: {self.explanation}")
        elif self.explanation:
            lines.append(self.explanation)
        lines += [f"Also seen: {hint}" for hint in self.hints]
        wrapped = (textwrap.fill(line, 76, subsequent_indent="  ") for line in lines)
        return "\n".join(wrapped)


def parameters(G, D) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for m in (G, D) for p in m.parameters()])


class OptimiserWatch:
    """Counts each optimiser's steps and notes gradients that reached G before D's
    step.
    """

    def __init__(self, G, opt_g, opt_d):
        self.G, self.g_steps, self.d_steps, self.g_grad_in_d_step = G, 0, 0, False
        self.before, self.d_steps_this_step = None, 0
        self.handles = [
            opt_d.register_step_pre_hook(self.on_d_step),
            opt_g.register_step_pre_hook(self.on_g_step),
            opt_g.register_step_post_hook(self.after_g_step),
        ]

    def start_step(self):
        self.d_steps_this_step = 0
        self.remember_g_grads()

    def remember_g_grads(self, *args):
        # G's gradients as they are now: any change before D's step came from D's loss
        self.before = [
            None if p.grad is None else p.grad.clone() for p in self.G.parameters()
        ]

    def on_d_step(self, *args):
        self.d_steps += 1
        self.d_steps_this_step += 1
        if self.d_steps_this_step == 1:  # D's own update, before G's backward
            for p, old in zip(self.G.parameters(), self.before):
                new = p.grad
                if new is not None and (old is None or not torch.equal(new, old)):
                    self.g_grad_in_d_step = True

    def on_g_step(self, *args):
        self.g_steps += 1

    def after_g_step(self, *args):  # a step that updates G first is not a detach bug
        self.remember_g_grads()

    def remove(self):
        for handle in self.handles:
            handle.remove()


@functools.cache  # the same digits for every run of a check, read once
def batches(n_steps: int, batch_size: int) -> tuple[torch.Tensor, ...]:
    x = to_signed(load_mnist("train")[0][: n_steps * batch_size])
    return tuple(x.split(batch_size))


def run_steps(step, n_steps: int, record: tuple[int, ...], watch: bool = False):
    """Runs `step` (the reader's signature, or None for the library's train_step) from
    the checker's fixed start. Returns ({steps: parameters}, watch or None).
    """
    run = new_run(TrainConfig(**CHECK_CONFIG), device="cpu")
    G, D = run.G, run.D
    observer = OptimiserWatch(G, run.opt_g, run.opt_d) if watch else None
    weights = {}
    try:
        for i, x in enumerate(batches(n_steps, run.config.batch_size), start=1):
            if step is None:
                train_step(run, x, None)
            else:
                # the latents train_step would draw, from the same random stream
                z = torch.randn(x.shape[0], G.z_dim, generator=run.rng)
                if observer:
                    observer.start_step()
                step(G, D, run.opt_g, run.opt_d, x, z)
                D.requires_grad_(True)  # in case the step froze D and left it so
            if i in record:
                weights[i] = parameters(G, D)
    finally:
        if observer:
            observer.remove()
    return weights, observer


def check_step(step, steps: int = 10, tol: float = 1e-5) -> StepReport:
    """Runs `step(G, D, opt_g, opt_d, x, z)` beside the library's train_step from the
    same start and compares every parameter after 1 and after `steps` steps.
    """
    if not callable(step):
        raise BadInput(
            "check_step needs a function step(G, D, opt_g, opt_d, x, z), "
            f"got {type(step).__name__}"
        )
    steps = check_range("steps", steps, 2, 200, integer=True)
    tol = check_range("tol", tol, 0, 1)
    # One thread: for networks this small, a second thread only waits on the first
    # (and on a busy machine made a check 100 times slower).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return compare(step, steps, tol)
    finally:
        torch.set_num_threads(threads)


def compare(step, steps: int, tol: float) -> StepReport:
    record = (1, steps)
    reference, _ = run_steps(None, steps, record)
    try:
        yours, watch = run_steps(step, steps, record, watch=True)
    except NotImplementedError:
        return StepReport(False, error="NotImplementedError: fill in the step first.")
    except RuntimeError as e:
        report = StepReport(False, error=f"RuntimeError: {str(e).splitlines()[0]}")
        if "backward through the graph a second time" in str(e):
            report.mistake = "no detach"
            report.explanation = (
                "D's backward() went through the fakes into G and freed G's graph, so "
                "the generator's backward() found nothing left. Use fake.detach() in "
                "D's loss."
            )
        return report
    diff = {n: (yours[n] - reference[n]).abs().max().item() for n in record}
    report = StepReport(all(d <= tol for d in diff.values()), diff)
    if report.passed:
        return report
    for name, (mistake, why) in MISTAKES.items():
        theirs, _ = run_steps(mistake, steps, record)
        if all((yours[n] - theirs[n]).abs().max().item() <= tol for n in record):
            report.mistake, report.explanation = name, why
            break
    else:
        report.explanation = "No classic mistake explains the difference."
    if watch.g_grad_in_d_step and report.mistake != "no detach":
        report.hints.append("G held gradients from D's loss when D stepped (detach).")
    if watch.g_steps != steps or watch.d_steps != steps:
        report.hints.append(
            f"over {steps} steps opt_d stepped {watch.d_steps} times and opt_g "
            f"{watch.g_steps} times; each should step once per step."
        )
    return report
