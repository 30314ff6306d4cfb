"""Tiny optimizers, as a plug-in's source file: what the plug-in tests and the bad-input battery load."""

TINY = '''
import torch


class SignSGD(torch.optim.Optimizer):
    """w ← w − lr·sign(g)."""

    def __init__(self, params, lr=0.01, weight_decay=0.0, foreach=None):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad.sign(), alpha=-group["lr"])


def adam_factory(params, lr, betas=(0.9, 0.999)):
    return torch.optim.Adam(params, lr=lr, betas=betas)


def not_an_optimizer(params, lr=0.1):
    return 42


class NotAnOptimizer:
    def __init__(self, params, lr=0.1):
        pass


class Modes(torch.optim.SGD):
    """Refuses to step unless in training mode; counts the switches."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, lr=lr)
        self.training, self.calls = False, []

    def train(self):
        self.training = True
        self.calls.append("train")

    def eval(self):
        self.training = False
        self.calls.append("eval")

    def step(self, closure=None):
        if not self.training:
            raise RuntimeError("not in training mode")
        return super().step(closure)


class NeedsClosure(torch.optim.SGD):
    def step(self, closure):
        return super().step(closure)


class Raises(torch.optim.SGD):
    def step(self, closure=None):
        if self.state.setdefault("n", 0) >= 12:
            raise ValueError("my optimizer broke")
        self.state["n"] += 1
        return super().step(closure)


class MakesNaN(torch.optim.SGD):
    def step(self, closure=None):
        super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                p.data.fill_(float("nan"))


class NeverFinishes(torch.optim.SGD):
    """Its first step (the load-time check's) finishes; the next never does."""

    def step(self, closure=None):
        self.state["n"] = self.state.get("n", 0) + 1
        while self.state["n"] > 1:
            pass
        return super().step(closure)


class Hangs(torch.optim.SGD):
    def step(self, closure=None):
        while True:
            pass
'''
