"""Servicers: unpack the request, call the domain, pack the response. Nothing else."""

from .changes import ChangeServicer
from .diffs import DiffServicer
from .pipelines import PipelineServicer
from .queries import QueryServicer
from .repositories import RepositoryServicer
from .sessions import SessionServicer

__all__ = [
    "ChangeServicer",
    "DiffServicer",
    "PipelineServicer",
    "QueryServicer",
    "RepositoryServicer",
    "SessionServicer",
]
