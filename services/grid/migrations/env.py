from services.common.migrations import run_env
from services.grid.models import Base

run_env(Base.metadata)
