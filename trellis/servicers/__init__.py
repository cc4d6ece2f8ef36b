"""Servicers: unpack the request, call the domain, pack the response. Nothing else."""

from .changes import ChangeServicer
from .diffs import DiffServicer
from .repositories import RepositoryServicer
from .sessions import SessionServicer
from .queries import QueryServicer
from .pipelines import PipelineServicer

__all__ = [
    "ChangeServicer",
    "DiffServicer",
    "PipelineServicer",
    "QueryServicer",
    "RepositoryServicer",
    "SessionServicer",
]
