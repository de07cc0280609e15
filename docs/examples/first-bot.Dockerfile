# docs/first-bot.rst: docker build -f first-bot.Dockerfile -t first-bot .
#                     docker run --env-file .env -v first-bot:/data first-bot
FROM python:3.12-slim
RUN pip install --no-cache-dir 'qqproto[transports,speed]'
WORKDIR /app
COPY first_bot.py hello.png ./
ENV BOT_SESSION_FILE=/data/first_bot.session PYTHONUNBUFFERED=1
VOLUME /data
# docker stop sends SIGTERM: the bot closes its session cleanly
CMD ["python", "first_bot.py"]
