"""The hand-written peer: what a team writes from the authentication skill's FastAPI example.

The example (passlib bcrypt, python-jose HS256, sqlmodel) grown into a runnable app the
way teams usually finish it: a `User` table on SQLite, JSON bodies instead of query
parameters, an `exp` on the access token (the skill asks for short-lived tokens), and a
protected `GET /me` that decodes the token and loads the user. The example has no refresh
token, so neither does this. `GET /health` is the bare route (no auth, no database).

Run by bench/run.sh --compare:
    uvicorn app:app --workers $(nproc) --no-access-log --log-level warning
"""

import os
from datetime import datetime, timedelta, timezone

from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jose import JWTError, jwt
from passlib.hash import bcrypt
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, create_engine, select

DATABASE_URL = os.environ.get("PEER_DATABASE_URL", "sqlite:///peer.db")
SECRET_KEY = os.environ.get("PEER_SECRET_KEY", "your_secret_key")
ALGORITHM = "HS256"
ACCESS_TOKEN_MINUTES = 15

engine = create_engine(DATABASE_URL, connect_args={"check_same_thread": False})


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True)
    email: str = Field(index=True, unique=True)
    hashed_password: str


def create_db() -> None:
    """Create the tables (run once before the workers start, so they do not race)."""
    SQLModel.metadata.create_all(engine)


app = FastAPI()
bearer = HTTPBearer()


def hash_password(password: str) -> str:
    return bcrypt.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    return bcrypt.verify(password, hashed)


def create_access_token(data: dict) -> str:
    claims = dict(data)
    claims["exp"] = datetime.now(timezone.utc) + timedelta(minutes=ACCESS_TOKEN_MINUTES)
    return jwt.encode(claims, SECRET_KEY, algorithm=ALGORITHM)


class SignupIn(BaseModel):
    username: str
    email: str
    password: str


class LoginIn(BaseModel):
    username: str
    password: str


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/signup", status_code=status.HTTP_201_CREATED)
def signup(body: SignupIn):
    user = User(username=body.username, email=body.email, hashed_password=hash_password(body.password))
    with Session(engine) as session:
        session.add(user)
        try:
            session.commit()
        except IntegrityError:
            raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail="User exists")
    return {"message": "User created successfully"}


@app.post("/login")
def login(body: LoginIn):
    with Session(engine) as session:
        user = session.exec(select(User).where(User.username == body.username)).first()
        if not user or not verify_password(body.password, user.hashed_password):
            raise HTTPException(status_code=status.HTTP_401_UNAUTHORIZED, detail="Invalid credentials")
        token = create_access_token({"sub": user.username})
        return {"access_token": token, "token_type": "bearer"}


def current_user(credentials: HTTPAuthorizationCredentials = Depends(bearer)) -> User:
    unauthorized = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        payload = jwt.decode(credentials.credentials, SECRET_KEY, algorithms=[ALGORITHM])
    except JWTError:
        raise unauthorized
    username = payload.get("sub")
    if not isinstance(username, str):
        raise unauthorized
    with Session(engine) as session:
        user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise unauthorized
    return user


@app.get("/me")
def me(user: User = Depends(current_user)):
    return {"id": user.id, "username": user.username, "email": user.email}
